"""Sync metrics on per-window embeddings: syncnet_python's LSE-D / LSE-C and the offset protocol.

Inputs are a segment's visual and audio embeddings, T × D, one row per 5-frame window start
(row s: the visual window of frames s…s+4, the audio window of the same 0.2 s). Nothing here reads
files; unisync_model.evaluation.protocols makes the embeddings.

**Shifts.** Column j of every T × (2·vshift + 1) matrix below pairs visual window s with audio
window s + j − vshift, and its *offset* is vshift − j (syncnet_python's "AV offset"). The matching
audio window of visual window s is s − offset: a positive offset means the audio leads (the sound
comes `offset` frames before the mouth shows it). vshift = 15 gives offsets −15…+15.

**LSE-D / LSE-C** (`syncnet_lse`), exactly as syncnet_python's `calc_pdist` + `SyncNetInstance.evaluate`:
each visual embedding's Euclidean distances to the 2·vshift + 1 audio embeddings around it (the audio
zero-padded at both ends), averaged over windows into one curve; LSE-D = its minimum, LSE-C = its
median − its minimum, AV offset = vshift − argmin. `SyncNetResult.framewise_confidence` is syncnet_python's
logged per-window confidence. SyncNet's embeddings are compared raw (`normalise=False`); UniSync's by the
Euclidean distance of L2-normalised embeddings (`normalise=True`), d = sqrt(2 − 2·p_sync) in [0, √2]:
not on SyncNet's scale, so never to be compared with published SyncNet LSE numbers.

**Offset protocol** (`shift_scores`, `context_scores`, `offset_accuracy`), as VocaLiST's `test_lrs2.py`:
every window scores the audio at all 2·vshift + 1 shifts; shifts whose audio window falls outside the
face segment are excluded from that window's argmax; with K frames of context the curves of the K − 4
windows centred on it are averaged; an offset within ±1 frame is correct; accuracy is the share of
correct windows per clip, then the mean over clips.

Each step against syncnet_python / VocaLiST, why this distance, why exclude rather than pad, and the
published numbers: docs/syncnet_and_lse.md#lse
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import medfilt

VSHIFT = 15  # shifts −15…+15 frames, as syncnet_python's LSE scripts and VocaLiST use
CONTEXTS = (5, 15)  # frames of context of the offset protocol (K)
TOLERANCE = 1  # an offset within ±1 frame counts as correct
MEDFILT_KERNEL = 9  # syncnet_python's framewise-confidence median filter
CHUNK = 256  # windows per block of distances (memory: CHUNK × (2·vshift + 1) × D floats)
PDIST_EPS = 1e-6  # torch.nn.functional.pairwise_distance's eps: ‖x − y + eps‖
NORM_EPS = 1e-12  # torch.nn.functional.normalize's eps
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity's eps

# The arithmetic is numpy's, in float32, as torch's functions named beside each step compute it (so
# that scoring with the training-free scorer never imports torch: bench/RESULTS.md, benchmark (e));
# tests/test_sync_metrics.py holds it to a literal rendering of syncnet_python's torch loop.


def _array(x) -> np.ndarray:
    """float32 numpy from numpy or a (CPU or cuda) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float32)


def _pair(visual, audio) -> tuple[np.ndarray, np.ndarray]:
    visual, audio = _array(visual), _array(audio)
    if visual.shape != audio.shape or visual.ndim != 2:
        raise ValueError(f"visual {tuple(visual.shape)} and audio {tuple(audio.shape)} must both be T × D")
    return visual, audio


def _shift_index(t: int, vshift: int) -> np.ndarray:
    """T × (2·vshift + 1) audio rows: window s, column j → audio window s + j − vshift."""
    return np.arange(t)[:, None] + np.arange(2 * vshift + 1)[None, :] - vshift


def _unit(x: np.ndarray, eps: float) -> np.ndarray:
    """Rows divided by max(‖row‖, eps) (torch's normalize; cosine_similarity divides so too)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(eps))


def calc_pdist(visual, audio, vshift: int = VSHIFT) -> np.ndarray:
    """syncnet_python's calc_pdist, stacked: T × (2·vshift + 1) Euclidean distances (torch's
    pairwise_distance, eps 1e-6) of each visual embedding to the zero-padded audio embeddings at
    every shift. Row s is syncnet_python's dists[s]."""
    visual, audio = _pair(visual, audio)
    padded = np.pad(audio, ((vshift, vshift), (0, 0)))
    index = _shift_index(len(visual), vshift) + vshift  # rows of the padded audio
    out = [np.linalg.norm(visual[start:start + CHUNK, None, :] - padded[index[start:start + CHUNK]]
                          + np.float32(PDIST_EPS), axis=-1)
           for start in range(0, len(visual), CHUNK)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2 * vshift + 1), np.float32)


@dataclass(frozen=True)
class SyncNetResult:
    offset: int  # AV offset in frames: vshift − argmin of the mean distance curve
    min_dist: float  # LSE-D
    confidence: float  # LSE-C: median − min of the curve
    mean_dists: np.ndarray  # the curve: 2·vshift + 1 mean distances, column j ↔ offset vshift − j
    framewise_confidence: np.ndarray  # median(curve) − each window's distance at the best shift, median-filtered
    dists: np.ndarray = field(repr=False)  # windows × (2·vshift + 1): calc_pdist's matrix the curve averages


def syncnet_lse(visual, audio, vshift: int = VSHIFT, normalise: bool = False) -> SyncNetResult:
    """LSE-D, LSE-C and the AV offset of one video (a face track) from its per-window embeddings,
    as syncnet_python computes them. `normalise`: L2-normalise both first (UniSync; see above)."""
    visual, audio = _array(visual), _array(audio)
    if len(visual) == 0:
        raise ValueError("no window to score")
    if normalise:
        visual, audio = _unit(visual, NORM_EPS), _unit(audio, NORM_EPS)
    dists = calc_pdist(visual, audio, vshift)  # T × W
    curve = dists.mean(0, dtype=np.float32)
    best = int(np.argmin(curve))  # the first minimum, as torch.min
    min_dist, median = curve[best], np.median(curve)  # 2·vshift + 1 values: an odd count, so the true median
    framewise = (median - dists[:, best]).astype(np.float32)
    with warnings.catch_warnings():  # scipy warns when a clip is shorter than the kernel; it zero-pads as always
        warnings.simplefilter("ignore", UserWarning)
        framewise = medfilt(framewise, MEDFILT_KERNEL)
    return SyncNetResult(offset=int(vshift - best), min_dist=float(min_dist), confidence=float(median - min_dist),
                         mean_dists=curve, framewise_confidence=framewise, dists=dists)


# ---------------------------------------------------------------- gated curves (unisync score)

MIN_OVERLAP = 0.5  # a shift is compared only on at least half the pairs of the best-covered shift


@dataclass(frozen=True)
class GatedCurve:
    """A distance curve over offsets −vshift…+vshift from the pairs that count: the audio window inside
    the segment and, when gated, holding speech. NaN where a shift has too few pairs to compare."""

    vshift: int
    curve: np.ndarray  # 2·vshift + 1 mean distances, column j ↔ offset vshift − j (NaN: not compared)
    pairs: np.ndarray  # pairs behind each column

    @property
    def compared(self) -> np.ndarray:
        return np.isfinite(self.curve)

    def best(self) -> tuple[int, float, float]:
        """(offset, minimum, median − minimum) over the compared shifts; the first minimum on ties."""
        values = np.where(self.compared, self.curve, np.inf)
        j = int(np.argmin(values))
        return self.vshift - j, float(self.curve[j]), float(np.median(self.curve[self.compared]) - self.curve[j])

    def fine_offset(self) -> float:
        """The best offset to a fraction of a frame: the vertex of the parabola through the minimum and its
        two neighbours (the integer offset where a neighbour is not compared)."""
        offset, _, _ = self.best()
        j = self.vshift - offset
        if j == 0 or j == len(self.curve) - 1 or not self.compared[j - 1:j + 2].all():
            return float(offset)
        left, mid, right = self.curve[j - 1:j + 2].astype(np.float64)
        bend = left - 2 * mid + right
        step = 0.0 if bend <= 0 else 0.5 * (left - right) / bend  # toward the lower neighbour, within ±0.5
        return float(offset - step)

    def around(self, offset: int, vshift: int) -> GatedCurve:
        """The curve over offset − vshift … offset + vshift (cut at this curve's ends): the best shift's
        confidence on the same number of shifts as a ±vshift search, wherever it lies."""
        j = self.vshift - offset
        lo, hi = max(0, j - vshift), min(len(self.curve), j + vshift + 1)
        return GatedCurve(self.vshift - lo, self.curve[lo:hi], self.pairs[lo:hi])

    def narrowed(self, vshift: int) -> GatedCurve:
        """The same curve over −vshift…+vshift only (each shift's mean does not depend on the others)."""
        cut = self.vshift - vshift
        return GatedCurve(vshift, self.curve[cut:len(self.curve) - cut], self.pairs[cut:len(self.pairs) - cut])


def distances(visual, audio, vshift: int, normalise: bool) -> np.ndarray:
    """calc_pdist's windows × (2·vshift + 1) matrix, the embeddings L2-normalised first when `normalise`
    (as syncnet_lse). Cost and memory grow linearly with vshift (CHUNK rows at a time)."""
    visual, audio = _pair(visual, audio)
    if normalise:
        visual, audio = _unit(visual, NORM_EPS), _unit(audio, NORM_EPS)
    return calc_pdist(visual, audio, vshift)


def pair_mask(windows: int, vshift: int, audio_ok: np.ndarray | None = None) -> np.ndarray:
    """windows × (2·vshift + 1): True where visual window s is paired with an audio window inside the
    segment (s + j − vshift in [0, windows)) that, when `audio_ok` is given, holds speech."""
    index = _shift_index(windows, vshift)
    inside = (index >= 0) & (index < windows)
    if audio_ok is not None:
        inside &= np.asarray(audio_ok, bool)[index.clip(0, max(windows - 1, 0))]
    return inside


def gated_curve(dists: np.ndarray, mask: np.ndarray, vshift: int) -> GatedCurve:
    """The mean over each column's counted pairs of a windows × (2·vshift + 1) distance matrix; a column
    with fewer than MIN_OVERLAP × the most pairs any column has is not compared (NaN)."""
    pairs = mask.sum(axis=0)
    total = np.where(mask, dists, 0.0).sum(axis=0, dtype=np.float64)
    enough = (pairs > 0) & (pairs >= MIN_OVERLAP * pairs.max(initial=0))
    curve = np.full(len(pairs), np.nan)
    curve[enough] = total[enough] / pairs[enough]
    return GatedCurve(vshift, curve, pairs)


# ---------------------------------------------------------------- the offset protocol

def shift_scores(visual, audio, vshift: int = VSHIFT) -> np.ndarray:
    """T × (2·vshift + 1) similarities of each visual window to the audio windows at every shift,
    as the model scores a pair (cosine of the ReLU'd embeddings = p_sync, torch's
    cosine_similarity); NaN where the audio window falls outside the T windows."""
    visual, audio = _pair(visual, audio)
    visual, audio = _unit(visual, COSINE_EPS), _unit(audio, COSINE_EPS)
    index = _shift_index(len(visual), vshift)
    inside = (index >= 0) & (index < len(visual))
    rows = index.clip(0, max(len(visual) - 1, 0))
    out = [np.einsum("td,twd->tw", visual[start:start + CHUNK], audio[rows[start:start + CHUNK]])
           for start in range(0, len(visual), CHUNK)]
    scores = np.concatenate(out).astype(np.float64) if out else np.zeros((0, 2 * vshift + 1))
    scores[~inside] = np.nan
    return scores


def context_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """The score curves averaged over K frames of context: for window s, the mean of the rows of
    the K − 4 windows centred on s, clipped to [0, T); NaN (excluded) where any of them is NaN."""
    if k < 5 or k % 2 == 0:
        raise ValueError(f"context K must be an odd number of frames >= 5, got {k}")
    scores = np.asarray(scores, np.float64)
    t, half = len(scores), (k - 5) // 2
    if half == 0:
        return scores.copy()
    nan = np.isnan(scores)
    total = np.vstack([np.zeros((1, scores.shape[1])), np.cumsum(np.where(nan, 0.0, scores), axis=0)])
    excluded = np.vstack([np.zeros((1, scores.shape[1]), np.int64), np.cumsum(nan, axis=0)])
    lo = np.clip(np.arange(t) - half, 0, t)
    hi = np.clip(np.arange(t) + half + 1, 0, t)
    mean = (total[hi] - total[lo]) / (hi - lo)[:, None]
    mean[(excluded[hi] - excluded[lo]) > 0] = np.nan
    return mean


def predicted_offsets(scores: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """vshift − argmax per row over the shifts not excluded (first maximum on ties)."""
    scores = np.asarray(scores, np.float64)
    if np.isnan(scores).all(axis=1).any():
        raise ValueError("a window has no shift left to score")
    return vshift - np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)


def column_offsets(scores: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """The offset of each column: vshift − j."""
    return vshift - np.arange(np.asarray(scores).shape[1])


@dataclass(frozen=True)
class OffsetCounts:
    """One segment's windows under the offset protocol at one context K."""

    windows: int  # every window of the segment
    correct: int  # of those, predicted within ±tolerance
    chance: float  # expected correct windows for a guess uniform over each window's candidate shifts
    full_windows: int  # windows whose every shift (and every context window's) stays inside the segment
    full_correct: int


def offset_counts(scores: np.ndarray, k: int, vshift: int = VSHIFT, tolerance: int = TOLERANCE) -> OffsetCounts:
    """Count one segment's correct windows at context K from its T × (2·vshift + 1) shift scores."""
    averaged = context_scores(scores, k)
    if len(averaged) == 0:
        return OffsetCounts(0, 0, 0.0, 0, 0)
    correct = np.abs(predicted_offsets(averaged, vshift)) <= tolerance
    valid = ~np.isnan(averaged)
    near = np.abs(column_offsets(averaged, vshift)) <= tolerance
    chance = float(((valid & near[None, :]).sum(1) / valid.sum(1)).sum())
    full = valid.all(axis=1)
    return OffsetCounts(windows=len(averaged), correct=int(correct.sum()), chance=chance,
                        full_windows=int(full.sum()), full_correct=int((correct & full).sum()))


def offset_accuracy(per_segment: list[tuple[str, OffsetCounts]]) -> dict:
    """Accuracy over a data set from (clip id, counts) per segment: correct / windows per clip (all
    its segments), then the mean over clips, as VocaLiST averages per sample. Also the pooled
    accuracy (all windows together), the chance level the same way, and the accuracy on windows
    where every shift stays inside the segment (mean over the clips that have such windows)."""
    by_clip: dict[str, list[float]] = {}
    for clip_id, c in per_segment:
        acc = by_clip.setdefault(clip_id, [0, 0, 0.0, 0, 0])
        acc[0] += c.windows
        acc[1] += c.correct
        acc[2] += c.chance
        acc[3] += c.full_windows
        acc[4] += c.full_correct
    rows = np.array([v for v in by_clip.values() if v[0] > 0], np.float64).reshape(-1, 5)
    if len(rows) == 0:
        raise ValueError("no window to score")
    full = rows[rows[:, 3] > 0]
    return {
        "accuracy": float(np.mean(rows[:, 1] / rows[:, 0])),
        "accuracy_pooled": float(rows[:, 1].sum() / rows[:, 0].sum()),
        "chance": float(np.mean(rows[:, 2] / rows[:, 0])),
        "clips": len(rows), "windows": int(rows[:, 0].sum()),
        "accuracy_full_range": float(np.mean(full[:, 4] / full[:, 3])) if len(full) else None,
        "full_range_clips": len(full), "full_range_windows": int(full[:, 3].sum()),
    }
