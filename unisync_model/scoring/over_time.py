"""Offsets over time: a segment's offset and confidence in sliding windows (10 s, hop 2 s by default),
and the drift line through them. A video whose audio runs at a slightly different rate than its frames
(a resampled or re-timed track) has an offset that moves steadily; one number per video hides it.

Each time window averages the rows (window starts) of the segment's distance matrix that fall in it,
with the pairs the whole segment counts (model/lse.gated_curve), so a window and the segment answer on
the same scale. Offsets are taken to a fraction of a frame (GatedCurve.fine_offset) for the line; the
windows themselves report whole frames. `drift_line` fits offset = a + b·t robustly (Theil–Sen) and
flags a drift when the line moves at least `drift_min_frames` over the video with at least
`drift_min_inliers` of the windows within a frame of it: a steady move, not scatter.
Rate sign: ms per minute that the offset (results.CONVENTION: > 0, the audio leads) grows, so > 0 is
audio running fast; `unisync fix --drift` resamples it back (scoring/fix.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import theilslopes

from unisync_model.model.lse import TOLERANCE as TOLERANCE_FRAMES
from unisync_model.model.lse import gated_curve
from unisync_model.settings import FPS, OverTimeSettings

MS_PER_FRAME = 1000.0 / FPS


@dataclass(frozen=True)
class TimeWindow:
    start_s: float
    end_s: float
    offset: int | None  # whole frames (None: no shift could be compared)
    fine_offset: float | None  # to a fraction of a frame, for the drift line
    confidence: float | None
    pairs: int  # pairs behind the best shift

    @property
    def centre_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    def record(self) -> dict:
        def num(v, digits):
            return None if v is None else round(float(v), digits)
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "offset_frames": self.offset,
                "offset_fine": num(self.fine_offset, 3), "confidence": num(self.confidence, 6), "pairs": self.pairs}


def window_starts(rows: int, span: int, hop: int) -> list[int]:
    """First rows of the windows: every `hop` rows, the last one ending at the last row."""
    if rows <= span:
        return [0]
    starts = list(range(0, rows - span + 1, hop))
    return starts if starts[-1] == rows - span else [*starts, rows - span]


def over_time(dists: np.ndarray, mask: np.ndarray, vshift: int, first_frame: int, window: int,
              settings: OverTimeSettings) -> list[TimeWindow]:
    """The segment's sliding windows. `dists` / `mask`: windows × (2·vshift + 1), row k the window of
    frames first_frame + k … + window − 1; a time window spans the frames its rows cover."""
    span, hop = max(1, round(settings.window_s * FPS)), max(1, round(settings.hop_s * FPS))
    out = []
    for a in window_starts(len(dists), span, hop):
        b = min(a + span, len(dists))
        curve = gated_curve(dists[a:b], mask[a:b], vshift)
        start_s, end_s = (first_frame + a) / FPS, (first_frame + b - 1 + window) / FPS
        if not curve.compared.any():
            out.append(TimeWindow(start_s, end_s, None, None, None, 0))
            continue
        offset, _, confidence = curve.best()
        out.append(TimeWindow(start_s, end_s, offset, curve.fine_offset(), confidence,
                              int(curve.pairs[vshift - offset])))
    return out


@dataclass(frozen=True)
class DriftLine:
    rate_ms_per_min: float  # how fast the offset grows (> 0: the audio runs fast)
    change_frames: float  # the line's move from the first window's centre to the last one's
    inliers: float  # share of the windows within a frame of the line
    windows: int
    drift: bool  # a steady move: change and inliers both over their thresholds
    intercept: float = 0.0  # the line's offset (fine frames) at time 0

    def offset_at(self, seconds: float) -> float:
        return self.intercept + self.rate_ms_per_min / MS_PER_FRAME / 60.0 * seconds

    def record(self) -> dict:
        return {"drift": self.drift, "drift_ms_per_min": round(self.rate_ms_per_min, 2),
                "drift_change_frames": round(self.change_frames, 3), "drift_inliers": round(self.inliers, 4),
                "drift_windows": self.windows, "drift_offset_at_0": round(self.intercept, 3)}


def drift_line(windows: list[TimeWindow], settings: OverTimeSettings) -> DriftLine | None:
    """The Theil–Sen line (the median of the pairwise slopes) through the windows' fine offsets; None
    with fewer than 3 scored windows or no spread in time. A robust line because speech's rhythm gives
    the curve side minima ~4–8 frames away that win a few windows outright: on the 60 s real clip with
    its audio 0.3 % fast, least squares read 339 ms/min against the true 179 (docs/scorers.md)."""
    scored = [w for w in windows if w.fine_offset is not None]
    if len(scored) < 3:
        return None
    t = np.array([w.centre_s for w in scored])
    y = np.array([w.fine_offset for w in scored])
    if np.ptp(t) <= 0:
        return None
    slope, intercept, _, _ = theilslopes(y, t)  # frames per second
    inliers = float(np.mean(np.abs(y - (intercept + slope * t)) <= TOLERANCE_FRAMES))
    change = slope * np.ptp(t)
    drift = abs(change) >= settings.drift_min_frames and inliers >= settings.drift_min_inliers
    return DriftLine(float(slope * MS_PER_FRAME * 60.0), float(change), inliers, len(scored), bool(drift),
                     float(intercept))
