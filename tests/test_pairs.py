import numpy as np
import pandas as pd
import pytest

from unisync_model.settings import NegativeMix
from unisync_model.training.pairs import (CROSS_SPEAKER, POSITIVE, SAME_NO_OVERLAP, SAME_OVERLAP, OtherSpeakers,
                                          binary_protocol_plan, training_plan)


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"speaker": [f"s{k // 3}" for k in range(12)], "windows": rng.integers(30, 120, 12)})


def test_positives_are_aligned_and_windows_stay_inside_their_clip(clips):
    plan = training_plan(clips, 5000, np.random.default_rng(1), NegativeMix())
    pos = plan.label == 1
    assert np.array_equal(plan.audio_clip[pos], plan.visual_clip[pos])
    assert np.array_equal(plan.audio_start[pos], plan.visual_start[pos])
    assert (plan.kind[pos] == POSITIVE).all() and (plan.kind[~pos] != POSITIVE).all()
    windows = clips["windows"].to_numpy()
    for clip, start in ((plan.visual_clip, plan.visual_start), (plan.audio_clip, plan.audio_start)):
        assert (start >= 0).all() and (start < windows[clip]).all()
    assert abs(pos.mean() - 0.5) < 0.03


@pytest.mark.parametrize("mix", [NegativeMix(), NegativeMix(0.5, 0.5, 0.0), NegativeMix(0.25, 0.25, 0.5),
                                 NegativeMix(0.0, 0.7, 0.3)])
def test_negative_kinds_come_in_the_configured_proportions(clips, mix):
    plan = training_plan(clips, 20000, np.random.default_rng(2), mix)
    kinds = plan.kind[plan.label == 0]
    for kind, share in zip((SAME_OVERLAP, SAME_NO_OVERLAP, CROSS_SPEAKER), mix.as_tuple()):
        assert abs((kinds == kind).mean() - share) < 0.02


def test_each_negative_kind_is_what_it_says(clips):
    plan = training_plan(clips, 10000, np.random.default_rng(3), NegativeMix())
    speakers = clips["speaker"].to_numpy()
    shift = plan.audio_start - plan.visual_start
    same = np.isin(plan.kind, [SAME_OVERLAP, SAME_NO_OVERLAP])
    assert np.array_equal(plan.audio_clip[same], plan.visual_clip[same])
    overlap = plan.kind == SAME_OVERLAP
    assert ((np.abs(shift[overlap]) >= 1) & (np.abs(shift[overlap]) <= 4)).all()
    assert (np.abs(shift[plan.kind == SAME_NO_OVERLAP]) >= 5).all()
    cross = plan.kind == CROSS_SPEAKER
    assert cross.sum() > 0
    assert (speakers[plan.audio_clip[cross]] != speakers[plan.visual_clip[cross]]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_other_speakers_draws_what_numpys_choice_among_the_others_draws(seed):
    """OtherSpeakers.draw gives, draw for draw, numpy's choice among the other speakers' clips weighted by
    their windows (what training_plan drew before it stopped listing them per speaker): the same plans."""
    rng = np.random.default_rng(seed)
    speakers = rng.choice([f"s{k}" for k in range(7)], size=60)
    windows = rng.integers(1, 300, size=60)
    sampler = OtherSpeakers(speakers, windows)
    ours, theirs = np.random.default_rng(seed + 10), np.random.default_rng(seed + 10)
    for speaker in rng.choice(np.unique(speakers), size=2000):
        others = np.flatnonzero(speakers != speaker)
        expected = theirs.choice(others, p=windows[others] / windows[others].sum())
        assert sampler.draw(ours, speaker) == expected


def test_short_clips_fall_back_to_a_kind_they_can_give():
    clips = pd.DataFrame({"speaker": ["a", "b"], "windows": [3, 3]})  # too short for a 5-frame shift
    plan = training_plan(clips, 2000, np.random.default_rng(4), NegativeMix(0.0, 1.0, 0.0))
    neg = plan.label == 0
    assert not (plan.kind[neg] == SAME_NO_OVERLAP).any()
    assert (plan.audio_start[neg] < 3).all()


def test_cross_speaker_needs_two_speakers():
    clips = pd.DataFrame({"speaker": ["a", "a"], "windows": [50, 50]})
    with pytest.raises(ValueError, match="two speakers"):
        training_plan(clips, 10, np.random.default_rng(0), NegativeMix())


def test_mix_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        NegativeMix(0.5, 0.5, 0.5)


def test_plans_are_reproducible(clips):
    a = training_plan(clips, 500, np.random.default_rng([7, 1]), NegativeMix())
    b = training_plan(clips, 500, np.random.default_rng([7, 1]), NegativeMix())
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("visual_clip", "visual_start", "audio_start"))


def test_binary_protocol_is_balanced_fixed_and_shifted_enough(clips):
    clips = pd.concat([clips, pd.DataFrame({"speaker": ["short"], "windows": [4]})], ignore_index=True)
    plan = binary_protocol_plan(clips, 1001, seed=5, min_shift=5)
    again = binary_protocol_plan(clips, 1001, seed=5, min_shift=5)
    assert np.array_equal(plan.audio_start, again.audio_start)
    assert abs(int(plan.label.sum()) - int((plan.label == 0).sum())) <= 1
    unsynced = plan.label == 0
    assert (np.abs(plan.audio_start - plan.visual_start)[unsynced] >= 5).all()
    assert (plan.visual_clip != len(clips) - 1).all()  # the 4-window clip cannot give an unsynced pair
    windows = clips["windows"].to_numpy()
    assert (plan.audio_start < windows[plan.audio_clip]).all()
