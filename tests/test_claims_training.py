"""Known-answer tests of the README's training and evaluation claims:

- the margin BCE uses separate same- and cross-speaker margins: in a batch holding pairs of every
  kind, each pair's loss takes the margin of its kind (trainer.margins_by_kind through run_epoch);
- 20 % of the negatives are cross-speaker by default, and those come from another speaker;
- the binary protocol: synced pairs have shift 0, unsynced ones |shift| >= min_shift, and a pair is
  correct exactly when (p >= threshold) == synced (a hand-made model whose p is known per pair)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import yaml
from helpers import ROOT

import unisync_model.evaluation.protocols as protocols
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.settings import FPS, EvalSettings, Margins, NegativeMix, TrainSettings
from unisync_model.training.pairs import (
    CROSS_SPEAKER,
    POSITIVE,
    SAME_NO_OVERLAP,
    SAME_OVERLAP,
    binary_protocol_plan,
    training_plan,
)
from unisync_model.training.trainer import margins_by_kind, run_epoch
from unisync_model.training.windows import clip_table, open_shards
from helpers.synthetic_runs import write_run

# ---------------------------------------------------------------- margins by kind


class Batches(list):
    """What run_epoch iterates: (visual, audio, label, kind) batches; no distributed sampler."""
    batch_sampler = None


class KnownP(nn.Module):
    """p is the visual input itself."""

    def forward(self, visual, audio):
        return visual


def nll(p: float, label: int, margin: float) -> float:
    """The paper's eq. 1 for one pair, written out."""
    return -math.log(p) if label else -math.log(1 - max(0.0, p - margin))


@pytest.mark.parametrize("margins", [Margins(0.1, 0.3), Margins(0.3, 0.7), Margins(0.2, 0.05)])
def test_each_pair_of_a_batch_takes_the_margin_of_its_kind(margins):
    settings = TrainSettings(margins=margins)
    by_kind = margins_by_kind(settings)
    assert by_kind.tolist() == pytest.approx([0.0, margins.same_speaker, margins.same_speaker, margins.cross_speaker])
    # one batch with pairs of every kind, at scores where the two margins give different losses
    kinds = [POSITIVE, SAME_OVERLAP, SAME_NO_OVERLAP, CROSS_SPEAKER] * 2
    p = [0.9, 0.8, 0.75, 0.85, 0.6, 0.95, 0.9, 0.99]
    label = [1 if k == POSITIVE else 0 for k in kinds]
    margin = {POSITIVE: 0.0, SAME_OVERLAP: margins.same_speaker, SAME_NO_OVERLAP: margins.same_speaker,
              CROSS_SPEAKER: margins.cross_speaker}
    expected = np.mean([nll(pi, y, margin[k]) for pi, y, k in zip(p, label, kinds)])
    batch = (torch.tensor(p), torch.zeros(8), torch.tensor(label), torch.tensor(kinds))
    loss, accuracy = run_epoch(KnownP(), Batches([batch]), by_kind, torch.device("cpu"))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx(np.mean([(pi >= 0.5) == y for pi, y in zip(p, label)]))
    # and kind by kind: a cross-speaker negative alone costs its own margin's loss, not the other's
    for kind in (SAME_OVERLAP, SAME_NO_OVERLAP, CROSS_SPEAKER):
        alone = (torch.tensor([0.8]), torch.zeros(1), torch.tensor([0]), torch.tensor([kind]))
        loss, _ = run_epoch(KnownP(), Batches([alone]), by_kind, torch.device("cpu"))
        assert loss == pytest.approx(nll(0.8, 0, margin[kind]), rel=1e-5), kind


# ---------------------------------------------------------------- 20 % cross-speaker negatives by default


def test_a_fifth_of_the_negatives_come_from_another_speaker_by_default():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert config["train"]["negatives"]["cross_speaker"] == 0.2  # the workflow's default, the paper's best
    mix = TrainSettings().negatives  # the library's default
    assert mix == NegativeMix() and mix.cross_speaker == 0.2
    rng = np.random.default_rng(11)
    clips = pd.DataFrame({"speaker": [f"s{k % 7}" for k in range(40)], "windows": rng.integers(40, 200, 40)})
    plan = training_plan(clips, 200_000, np.random.default_rng(12), mix)
    negatives = plan.label == 0
    cross = negatives & (plan.kind == CROSS_SPEAKER)
    # ~100,000 negatives: the share's standard deviation is 0.0013; ±0.005 is about 4 of them
    assert cross.sum() / negatives.sum() == pytest.approx(0.2, abs=0.005)
    speakers = clips["speaker"].to_numpy()
    assert (speakers[plan.audio_clip[cross]] != speakers[plan.visual_clip[cross]]).all()
    # and no other negative does: the same clip's audio, so the same speaker
    same = negatives & ~cross
    assert (plan.audio_clip[same] == plan.visual_clip[same]).all()


# ---------------------------------------------------------------- the binary protocol

CROP = (4, 4, 3)
# clip id → (speaker, split, frames, face segments as [start, stop) frame ranges)
CLIPS = {
    "a/1": ("a", "test", 90, [(0, 90)]),
    "b/1": ("b", "test", 120, [(0, 40), (50, 120)]),  # the second segment starts at frame 50
    "c/1": ("c", "test", 8, [(0, 8)]),  # 4 windows: too short to shift by 5, never drawn
    "d/1": ("d", "train", 60, [(0, 60)]),  # another split
}


@pytest.fixture
def time_coded_run(tmp_path):
    """A manifest and rgb / mel / tracks shards where rgb frame t holds t and Mel frame j holds j, so a
    pair's visual and audio windows say which video frames they start at."""
    return write_run(tmp_path, CLIPS, CROP, time_code=True)


class ByShift(nn.Module):
    """p from the shift between the audio and the visual window (in video frames, read from the time
    codes): `aligned` at shift 0, `near` below `min_shift`, `far` at `min_shift` or more."""

    def __init__(self, aligned: float, near: float, far: float, min_shift: int):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # for the device
        self.values, self.min_shift = (aligned, near, far), min_shift

    def forward(self, visual, audio):
        v = visual[:, 0, 0, 0, 0].double()  # the window's first video frame
        a = torch.round(audio[:, 0, 0].double() * FPS / MEL_RATE)  # ceil(3.2 s) back to s
        shift = (a - v).abs()
        aligned, near, far = self.values
        return torch.where(shift == 0, aligned, torch.where(shift < self.min_shift, near, far)).float()


def evaluate(run, monkeypatch, model, settings):
    monkeypatch.setattr(protocols, "load_checkpoint", lambda path, device: (model.eval(), {"settings": {}}))
    return protocols.evaluate_binary(run / "model.pt", run / "clips.parquet", run / "shards", ["000"], "mel", "rgb",
                                     settings)


@pytest.mark.parametrize("min_shift", [5, 8])
def test_binary_protocol_pairs_are_aligned_or_shifted_by_at_least_min_shift(time_coded_run, min_shift):
    readers = {stage: open_shards(time_coded_run / "shards", stage, ["000"]) for stage in ("rgb", "mel", "tracks")}
    clips = clip_table(time_coded_run / "clips.parquet", ["test"], readers["rgb"], readers["mel"],
                       readers["tracks"], "mel")
    assert list(clips["first_frame"]) == [0, 0, 50, 0]
    plan = binary_protocol_plan(clips, 1000, seed=3, min_shift=min_shift)
    synced = plan.label == 1
    assert synced.sum() == 500
    assert (plan.audio_clip == plan.visual_clip).all()
    shift = plan.audio_start - plan.visual_start
    assert (shift[synced] == 0).all()
    assert (np.abs(shift[~synced]) >= min_shift).all()
    assert set(clips["clip_id"].to_numpy()[plan.visual_clip]) == {"a/1", "b/1"}  # c/1 is too short


@pytest.mark.parametrize("threshold,aligned,near,far,expected", [
    (0.5, 0.5, 0.5, 0.25, (1.0, 1.0, 1.0)),       # p = threshold counts as synced; shifted pairs far enough
    (0.5, 0.25, 0.5, 0.5, (0.0, 0.0, 0.0)),       # the inverse model is wrong on every pair
    (0.5, 0.75, 0.75, 0.75, (0.5, 1.0, 0.0)),     # "always synced": right on the synced half only
    (0.5, 0.25, 0.25, 0.25, (0.5, 0.0, 1.0)),     # "never synced": right on the unsynced half only
    (0.75, 0.75, 0.75, 0.625, (1.0, 1.0, 1.0)),   # the threshold is the settings': 0.625 is "unsynced" at 0.75
])
@pytest.mark.parametrize("min_shift", [5, 8])
def test_binary_protocol_decision_rule_on_a_model_with_known_p(time_coded_run, monkeypatch, threshold, aligned, near,
                                                               far, expected, min_shift):
    settings = EvalSettings(pairs=200, min_shift=min_shift, threshold=threshold, batch_size=64)
    record = evaluate(time_coded_run, monkeypatch, ByShift(aligned, near, far, min_shift), settings)
    assert (record["accuracy"], record["accuracy_synced"], record["accuracy_unsynced"]) == expected
    assert record["pairs"] == 200 and record["clips"] == 3  # the test split's (c/1 gives no pair); d/1 is train
    assert record["mean_p_synced"] == aligned and record["mean_p_unsynced"] == far  # no unsynced pair is near
