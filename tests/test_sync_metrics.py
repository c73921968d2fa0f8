"""LSE-D / LSE-C against a literal, loop-by-loop rendering of syncnet_python's calc_pdist + evaluate,
and the offset protocol against a literal rendering of VocaLiST's test_lrs2.py, on random and
hand-made embeddings and score curves where the answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from unisync_model.model.lse import (OffsetCounts, calc_pdist, column_offsets, context_scores, offset_accuracy,
                                     offset_counts, predicted_offsets, shift_scores, syncnet_lse)

EPS = 1e-6  # torch.nn.functional.pairwise_distance's default: || x1 - x2 + eps ||


# ---------------------------------------------------------------- literal references

def reference_syncnet(visual: np.ndarray, audio: np.ndarray, vshift: int) -> dict:
    """syncnet_python's evaluate, one number at a time in float64: audio padded with vshift zero
    rows at both ends, per frame the distance to the 2·vshift + 1 audio rows around it, the mean
    over frames, min → LSE-D, median − min → LSE-C, vshift − argmin → offset; framewise confidence
    = median − each frame's distance at argmin, then a 9-tap median filter padded with zeros."""
    visual, audio = visual.astype(np.float64), audio.astype(np.float64)
    t, d = visual.shape
    width = 2 * vshift + 1
    padded = [np.zeros(d)] * vshift + list(audio) + [np.zeros(d)] * vshift
    dists = []
    for i in range(t):
        row = []
        for j in range(width):
            diff = visual[i] - padded[i + j] + EPS
            row.append(math.sqrt(sum(x * x for x in diff)))
        dists.append(row)
    curve = [sum(dists[i][j] for i in range(t)) / t for j in range(width)]
    best = min(range(width), key=lambda j: (curve[j], j))  # first minimum
    median = sorted(curve)[width // 2]
    fconf = [median - dists[i][best] for i in range(t)]
    padded_conf = [0.0] * 4 + fconf + [0.0] * 4
    fconfm = [sorted(padded_conf[i:i + 9])[4] for i in range(t)]
    return {"dists": np.array(dists), "curve": np.array(curve), "offset": vshift - best, "min_dist": curve[best],
            "confidence": median - curve[best], "fconfm": np.array(fconfm)}


def reference_vocalist(scores: np.ndarray, k: int, vshift: int) -> np.ndarray:
    """VocaLiST's test_lrs2.py: out-of-clip shifts set to -1000, each window's curve averaged with
    those of the K − 4 windows centred on it (the range clipped at the clip's ends), argmax."""
    masked = np.where(np.isnan(scores), -1000.0, scores)
    t, half = len(scores), (k - 5) // 2
    offsets = []
    for s in range(t):
        rows = masked[max(0, s - half):min(t, s + half + 1)]
        curve = [sum(r[j] for r in rows) / len(rows) for j in range(masked.shape[1])]
        offsets.append(vshift - max(range(len(curve)), key=lambda j: (curve[j], -j)))  # first maximum
    return np.array(offsets)


def shifted_pair(t: int, d: int, k: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Audio embeddings that match the visual ones k windows later: audio[s + k] ≈ visual[s]."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((t + 40, d)).astype(np.float32)
    visual = base[20:20 + t]
    audio = base[20 - k:20 - k + t] + noise * rng.standard_normal((t, d)).astype(np.float32)
    return visual, audio


# ---------------------------------------------------------------- LSE-D / LSE-C

@pytest.mark.parametrize("t,d,vshift,seed", [(40, 16, 15, 0), (7, 8, 15, 1), (60, 32, 5, 2), (1, 4, 15, 3)])
def test_calc_pdist_and_lse_match_the_literal_reference_on_random_data(t, d, vshift, seed):
    rng = np.random.default_rng(seed)
    visual, audio = rng.standard_normal((2, t, d)).astype(np.float32)
    ref = reference_syncnet(visual, audio, vshift)
    np.testing.assert_allclose(calc_pdist(visual, audio, vshift), ref["dists"], rtol=0, atol=1e-5)
    got = syncnet_lse(visual, audio, vshift)
    assert got.offset == ref["offset"]
    assert got.min_dist == pytest.approx(ref["min_dist"], abs=1e-5)
    assert got.confidence == pytest.approx(ref["confidence"], abs=1e-5)
    np.testing.assert_allclose(got.mean_dists, ref["curve"], atol=1e-5)
    np.testing.assert_allclose(got.framewise_confidence, ref["fconfm"], atol=1e-5)


@pytest.mark.parametrize("k", [-7, -1, 0, 2, 12])
def test_shifted_audio_gives_the_known_offset(k):
    visual, audio = shifted_pair(50, 24, k, noise=0.1, seed=k + 20)
    ref = reference_syncnet(visual, audio, 15)
    raw = syncnet_lse(visual, audio)
    assert raw.offset == ref["offset"] == -k  # the matching audio is k windows later: offset −k
    assert raw.min_dist == pytest.approx(ref["min_dist"], abs=1e-5)
    assert raw.confidence == pytest.approx(ref["confidence"], abs=1e-5)
    assert raw.confidence > 1.0  # a clear minimum
    unit = syncnet_lse(visual, audio, normalise=True)  # UniSync: distance of L2-normalised embeddings
    assert unit.offset == -k
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    ref_unit = reference_syncnet(norm(visual), norm(audio), 15)
    assert unit.min_dist == pytest.approx(ref_unit["min_dist"], abs=1e-5)
    assert unit.confidence == pytest.approx(ref_unit["confidence"], abs=1e-5)
    assert 0 <= unit.min_dist < unit.min_dist + unit.confidence <= math.sqrt(2) + 1e-5


def test_distances_include_torchs_pairwise_eps_as_syncnet_python_does():
    x = np.ones((3, 10000), np.float32)
    assert calc_pdist(x, x)[:, 15] == pytest.approx([1e-6 * 100] * 3, rel=1e-3)  # || x - x + 1e-6 ||


def test_normalised_distance_is_monotone_in_p_sync():
    rng = np.random.default_rng(4)
    visual, audio = np.maximum(rng.standard_normal((2, 30, 16)), 0).astype(np.float32)  # ReLU'd, like UniSync's
    p = shift_scores(visual, audio)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    d = calc_pdist(unit(visual), unit(audio))
    inside = ~np.isnan(p)
    np.testing.assert_allclose(d[inside], np.sqrt(2 - 2 * p[inside]), atol=1e-5)
    assert np.allclose(d[~inside], 1.0, atol=1e-5)  # a zero pad: distance 1 from a unit vector (p = 0.5)


def test_framewise_confidence_is_median_minus_the_frame_at_the_best_shift_filtered():
    visual, audio = shifted_pair(30, 8, 0, noise=0.0, seed=5)
    got = syncnet_lse(visual, audio)
    dists = calc_pdist(visual, audio)
    raw = np.median(got.mean_dists) - dists[:, 15]  # offset 0 is the best shift here
    assert got.offset == 0
    assert np.allclose(got.framewise_confidence[4:-4], [np.median(raw[i - 4:i + 5]) for i in range(4, 26)], atol=1e-5)
    assert not np.allclose(got.framewise_confidence, np.median(dists, axis=1) - dists.min(axis=1))  # not per-frame


# ---------------------------------------------------------------- the offset protocol

def test_shift_scores_columns_pair_window_s_with_audio_s_plus_j_minus_vshift():
    rng = np.random.default_rng(6)
    visual, audio = np.abs(rng.standard_normal((2, 20, 8))).astype(np.float32)
    scores = shift_scores(visual, audio, vshift=3)
    assert scores.shape == (20, 7)
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert scores[10, 3] == pytest.approx(cos(visual[10], audio[10]), abs=1e-6)  # offset 0
    assert scores[10, 5] == pytest.approx(cos(visual[10], audio[12]), abs=1e-6)  # offset −2: audio 2 later
    assert np.isnan(scores[0, :3]).all() and not np.isnan(scores[0, 3:]).any()  # audio before the segment
    assert np.isnan(scores[19, 4:]).all() and not np.isnan(scores[19, :4]).any()  # audio after it
    assert list(column_offsets(scores, 3)) == [3, 2, 1, 0, -1, -2, -3]


def test_context_averages_the_k_minus_4_centred_windows_clipped_at_the_ends():
    scores = np.arange(6 * 3, dtype=float).reshape(6, 3)
    np.testing.assert_array_equal(context_scores(scores, 5), scores)  # K = 5: the window alone
    k7 = context_scores(scores, 7)  # 3 windows
    np.testing.assert_allclose(k7[0], scores[:2].mean(0))
    np.testing.assert_allclose(k7[3], scores[2:5].mean(0))
    np.testing.assert_allclose(k7[5], scores[4:].mean(0))
    k15 = context_scores(scores, 15)  # 11 windows: every window sees the whole (short) segment
    np.testing.assert_allclose(k15, np.tile(scores.mean(0), (6, 1)))
    scores[1, 0] = np.nan  # excluded for window 1 → excluded for every window whose context holds it
    k7 = context_scores(scores, 7)
    assert np.isnan(k7[:3, 0]).all() and not np.isnan(k7[3:, 0]).any()
    with pytest.raises(ValueError):
        context_scores(scores, 6)


@pytest.mark.parametrize("k", [5, 7, 9, 15])
@pytest.mark.parametrize("t", [3, 20, 64])
def test_offsets_match_vocalists_literal_protocol_on_random_curves(k, t):
    rng = np.random.default_rng(k * 100 + t)
    visual, audio = np.abs(rng.standard_normal((2, t, 6))).astype(np.float32)
    scores = shift_scores(visual, audio)
    np.testing.assert_array_equal(predicted_offsets(context_scores(scores, k)), reference_vocalist(scores, k, 15))


def test_tolerance_of_one_frame_and_context_fixes_outliers():
    vshift = 3
    scores = np.zeros((9, 7))
    peaks = [0, 1, -1, 3, 0, 0, -2, 0, 0]  # the offset each window's curve peaks at
    for s, offset in enumerate(peaks):
        scores[s, vshift - offset] = 1.0
    assert list(predicted_offsets(scores, vshift)) == peaks
    c5 = offset_counts(scores, 5, vshift)
    assert (c5.windows, c5.correct) == (9, 7)  # +3 and −2 are wrong; 0, +1, −1 right
    c7 = offset_counts(scores, 7, vshift)  # 3 windows (2 at the ends); ties: the first maximum, the largest offset
    assert list(predicted_offsets(context_scores(scores, 7), vshift)) == [1, 1, 3, 3, 0, 0, 0, 0, 0]
    assert c7.correct == 7  # the −2 outlier is outvoted; the +3 one spreads to window 2
    c15 = offset_counts(scores, 15, vshift)  # 11 windows: the whole segment, where 0 is the majority
    assert c15.correct == 9
    tie = np.array([[0.0, 0.5, 0.0, 0.2, 0.5, 0.0, 0.0]])
    assert list(predicted_offsets(tie, vshift)) == [2]  # the first maximum, as torch.argmax


def test_accuracy_is_per_clip_then_mean_over_clips():
    a = OffsetCounts(windows=10, correct=10, chance=1.0, full_windows=0, full_correct=0)
    b1 = OffsetCounts(windows=10, correct=0, chance=2.0, full_windows=4, full_correct=0)
    b2 = OffsetCounts(windows=20, correct=15, chance=4.0, full_windows=6, full_correct=6)
    got = offset_accuracy([("a", a), ("b", b1), ("b", b2)])
    assert got["accuracy"] == pytest.approx((1.0 + 15 / 30) / 2)  # clip b: both segments together
    assert got["accuracy_pooled"] == pytest.approx(25 / 40)
    assert got["chance"] == pytest.approx((0.1 + 6 / 30) / 2)
    assert (got["clips"], got["windows"]) == (2, 40)
    assert got["accuracy_full_range"] == pytest.approx(6 / 10) and got["full_range_clips"] == 1


def test_edges_exclude_shifts_outside_the_segment_and_count_full_range_windows():
    visual, audio = shifted_pair(50, 16, 0, noise=0.0, seed=7)
    scores = shift_scores(np.abs(visual), np.abs(audio))
    k5, k15 = offset_counts(scores, 5), offset_counts(scores, 15)
    assert k5.correct == k5.windows == 50  # synced: every window right
    assert (k5.full_windows, k15.full_windows) == (20, 10)  # all 31 shifts inside: windows 15…34 (20…29 for K=15)
    one = offset_counts(shift_scores(visual[:1], audio[:1]), 5)
    assert (one.windows, one.correct, one.chance) == (1, 1, 1.0)  # a 1-window segment can only say 0
    # audio 4 windows late: every window wrong, except where the match falls outside and the
    # first candidate left happens to be within ±1 (window 49: shifts 0…−15 only; argmax picks +0)
    late = offset_counts(shift_scores(*map(np.abs, shifted_pair(50, 16, 4, noise=0.0, seed=8))), 5)
    assert late.correct <= 4
