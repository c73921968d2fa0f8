"""What a score is: the numbers of one video and of each of its face segments (AV offset, LSE-D as
`min_dist`, LSE-C as `confidence`, the distance curve), or the reason it has none, and `score_clip`,
which computes them from a scorer's embeddings with syncnet_python's aggregation (`model/lse.py`).
Both routes (`videos.py`, `shard_route.py`) and the shift study end here, so they agree.

**Sign convention** (syncnet_python's "AV offset"): `offset` > 0 means the audio *leads* the video —
a sound is heard `offset` frames (× 40 ms) before the mouth makes it; < 0 means the audio lags.
`unisync fix VIDEO --offset N` (fix.py) delays the audio by N frames (advances it when N < 0), so a
fixed video scores ≈ 0. Frames are 25 fps frames whatever the source's frame rate (every stage
resamples to 25 fps CFR).
"""
from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import medfilt

from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.io.media import level_dbfs
from unisync_model.model.lse import MEDFILT_KERNEL, GatedCurve, distances, gated_curve, pair_mask, syncnet_lse
from unisync_model.scoring.over_time import DriftLine, TimeWindow, drift_line, over_time
from unisync_model.scoring.scorers import ClipData, NoScore, Scorer
from unisync_model.scoring.speech_gate import NO_SPEECH, frame_speech, no_speech_reason, window_speech
from unisync_model.settings import FPS, ScoreSettings

log = logging.getLogger(__name__)

MS_PER_FRAME = 1000.0 / FPS
TOLERANCE_FRAMES = 1  # |offset| within this is "in sync": a frame is the scale's own resolution
OK = "ok"
NO_SCORE = "no score"
BEYOND = "beyond the searched range"
CONVENTION = ("offset_frames > 0: the audio leads the video (heard before the mouth moves); < 0: the audio lags. "
              "syncnet_python's AV offset. `unisync fix --offset N` delays the audio by N frames (N < 0: advances).")


@dataclass
class SegmentScore:
    index: int
    first_frame: int
    stop_frame: int
    reason: str | None = None
    offset: int | None = None
    min_dist: float | None = None
    confidence: float | None = None
    windows: int = 0
    curve: np.ndarray | None = None  # 2·vshift + 1 mean distances, index j ↔ offset vshift − j (NaN: not compared)
    frame_confidence: np.ndarray | None = None  # per window (syncnet_python's, median-filtered)
    window_first: int = 0  # frame of the first window
    window: int = 5  # frames per window
    dists: np.ndarray | None = field(default=None, repr=False)  # windows × (2·vshift + 1) (syncnet_python's protocol)
    speech_frames: int | None = None  # frames with speech, when the scorer gates by it
    track: int = 0  # the face track this segment belongs to (several per shot when several faces are scored)
    chosen: bool = True  # this track is its shot's speaker (the one the video's numbers pool)
    box: tuple[float, float, float, float] | None = None  # the face's median box (x1, y1, x2, y2, source pixels)
    over_time: list[TimeWindow] = field(default_factory=list)  # offsets in sliding windows (over_time.py)

    def row(self, video: VideoScore) -> dict:
        return {"video": video.video, "clip_id": video.clip_id, "scorer": video.scorer, "segment": self.index,
                "first_frame": self.first_frame, "stop_frame": self.stop_frame,
                "start_s": round(self.first_frame / FPS, 3), "end_s": round(self.stop_frame / FPS, 3),
                **_numbers(self.reason, self.offset, self.confidence, self.min_dist), "windows": self.windows,
                "speech_share": self.speech_share, "track": self.track, "chosen": self.chosen}

    @property
    def speech_share(self) -> float | None:
        frames = self.stop_frame - self.first_frame
        return None if self.speech_frames is None or frames <= 0 else round(self.speech_frames / frames, 4)

    def record(self) -> dict:
        out = {"segment": self.index, "first_frame": self.first_frame, "stop_frame": self.stop_frame,
               **_numbers(self.reason, self.offset, self.confidence, self.min_dist), "windows": self.windows,
               "speech_share": self.speech_share, "track": self.track, "chosen": self.chosen,
               "box": None if self.box is None else [round(float(v), 1) for v in self.box],
               "over_time": [w.record() for w in self.over_time]}
        if self.curve is not None:
            out.update(curve=_floats(self.curve), window=self.window, window_first_frame=self.window_first,
                       frame_confidence=_floats(self.frame_confidence))
        return out


@dataclass
class VideoScore:
    video: str
    clip_id: str
    scorer: str
    reason: str | None = None
    offset: int | None = None
    min_dist: float | None = None
    confidence: float | None = None
    frames: int = 0
    audio_stream: int | None = None
    segments: list[SegmentScore] = field(default_factory=list)
    curve: np.ndarray | None = None
    plot: str = ""
    missing: bool = False  # a path the user named that does not exist (inputs.py)
    uncertain_below: float | None = None  # the scorer's threshold: a lower confidence answers "uncertain"
    searched_range: int | None = None  # offsets −searched_range…+searched_range were searched (frames)
    drift: DriftLine | None = None  # the line through the chosen segments' offsets over time

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def uncertain(self) -> bool:
        return self.ok and self.uncertain_below is not None and self.confidence < self.uncertain_below

    @property
    def verdict(self) -> str:
        """What the numbers answer: in sync (|offset| ≤ 1 frame), out of sync, uncertain, or no score."""
        if not self.ok:
            return BEYOND if self.reason.startswith(BEYOND) else NO_SCORE
        if self.uncertain:
            return "uncertain"
        return "in sync" if abs(self.offset) <= TOLERANCE_FRAMES else "out of sync"

    @property
    def speech_share(self) -> float | None:
        """The share of the face segments' frames with speech, when the scorer measured it."""
        measured = [s for s in self.segments if s.speech_frames is not None and s.chosen]
        frames = sum(s.stop_frame - s.first_frame for s in measured)
        return round(sum(s.speech_frames for s in measured) / frames, 4) if measured and frames else None

    def line(self) -> str:
        """One tab-separated line, syncnet_python's words: what `unisync score` prints per video."""
        if not self.ok:
            return f"{self.video}\tno score: {self.reason}\tscorer: {self.scorer}"
        offset = (f"uncertain (best guess {self.offset:d}, confidence < {self.uncertain_below:g})" if self.uncertain
                  else f"{self.offset:d}")
        searched = "" if self.searched_range is None else f"\tsearched: ±{self.searched_range} frames"
        return (f"{self.video}\tAV offset: {offset}\tMin dist: {self.min_dist:.3f}\t"
                f"Confidence: {self.confidence:.3f}{searched}\tscorer: {self.scorer}")

    def row(self) -> dict:
        scored = [s for s in self.segments if s.reason is None and s.chosen] if self.ok else []  # the speaker's
        return {"video": self.video, "clip_id": self.clip_id, "scorer": self.scorer,
                **_numbers(self.reason, self.offset, self.confidence, self.min_dist), "verdict": self.verdict,
                "track_mean_offset": _mean([s.offset for s in scored]),
                "track_mean_confidence": _mean([s.confidence for s in scored]),
                "track_mean_min_dist": _mean([s.min_dist for s in scored]),
                "segments": len(self.segments), "segments_scored": sum(s.reason is None for s in self.segments),
                "windows": sum(s.windows for s in scored), "frames": self.frames,
                "speech_share": self.speech_share, "searched_range_frames": self.searched_range,
                "drift": None if self.drift is None else self.drift.drift,
                "drift_ms_per_min": None if self.drift is None else round(self.drift.rate_ms_per_min, 2),
                "audio_stream": self.audio_stream, "plot": self.plot}

    def record(self) -> dict:
        out = self.row()
        if self.curve is not None:
            out["curve"] = _floats(self.curve)
        if self.drift is not None:
            out.update(self.drift.record())
        out["segment_scores"] = [s.record() for s in self.segments]
        return out


def _numbers(reason, offset, confidence, min_dist) -> dict:
    if reason is not None:
        return {"status": NO_SCORE, "reason": reason, "offset_frames": None, "offset_ms": None,
                "confidence": None, "min_dist": None}
    return {"status": OK, "reason": "", "offset_frames": int(offset), "offset_ms": round(offset * MS_PER_FRAME, 1),
            "confidence": round(float(confidence), 6), "min_dist": round(float(min_dist), 6)}


def _mean(values: list) -> float | None:
    """LatentSync's per-video number: the mean over the scored face segments (None without one)."""
    return round(float(np.mean(values)), 6) if values else None


def _floats(values) -> list:
    return [None if not math.isfinite(v) else round(float(v), 6) for v in np.asarray(values, np.float64)]


def score_clip(clip: ClipData, scorer: Scorer, video: str | None = None,
               settings: ScoreSettings | None = None) -> VideoScore:
    """Score a prepared clip: each face segment on its own, and the video on the pooled windows of its
    scored segments (so a long segment weighs more than a short one). Offsets −max_offset…+max_offset
    are searched; pairs without speech in their audio window are left out (speech_gate.py); an
    uncertain answer, or one at the range's edge, is checked out to probe_offset (`beyond_reason`).
    `--protocol syncnet_python` keeps syncnet_python's own arithmetic (zero-padded, ungated)."""
    if settings is not None and not isinstance(settings, ScoreSettings):
        raise TypeError(f"score_clip's fourth argument is the ScoreSettings, not {type(settings).__name__}")
    settings = settings or ScoreSettings()
    vshift, exact = settings.max_offset, getattr(scorer, "syncnet_python_lse", False)
    wide = vshift if exact else max(vshift, settings.probe_offset)
    result = VideoScore(video=video or clip.path or clip.clip_id, clip_id=clip.clip_id, scorer=scorer.name,
                        frames=clip.frames, audio_stream=clip.audio_stream, searched_range=vshift,
                        uncertain_below=getattr(scorer, "uncertain_below", None) or None)
    speech = frame_speech(clip.samples, min(clip.frames, clip.audio_frames) or clip.audio_frames, settings.speech)
    pooled, masks = [], []
    for index, seg in enumerate(scorer.embed(clip)):
        score = SegmentScore(index, seg.start, seg.stop, reason=seg.reason, window=scorer.window,
                             window_first=seg.first_frame, speech_frames=seg.speech_frames,
                             box=segment_box(clip.track, seg.start, seg.stop))
        if speech is not None:
            score.speech_frames = int(speech[seg.start:seg.stop].sum())
        if score.reason is None:
            score.reason = _segment_reason(clip, seg, score, settings, gated=speech is not None and not exact)
        if score.reason is None and exact:
            lse = syncnet_lse(seg.visual, seg.audio, vshift, normalise=scorer.normalise)
            score.offset, score.min_dist, score.confidence = lse.offset, lse.min_dist, lse.confidence
            score.curve, score.frame_confidence, score.dists = lse.mean_dists, lse.framewise_confidence, lse.dists
            score.windows = seg.windows
            pooled.append(lse.dists)
            masks.append(np.ones_like(lse.dists, bool))
        elif score.reason is None:
            dists = distances(seg.visual, seg.audio, wide, scorer.normalise)
            audio_ok = (None if speech is None else
                        window_speech(speech, seg.first_frame, seg.windows, scorer.window, settings.speech))
            mask = pair_mask(seg.windows, wide, audio_ok)
            curve = gated_curve(dists, mask, wide).narrowed(vshift)
            if not curve.compared.any():
                score.reason = f"{NO_SPEECH} in any window that can be compared"
            else:
                _fill(score, curve, _narrow(dists, wide, vshift), _narrow(mask, wide, vshift), settings)
                score.windows = seg.windows
                pooled.append(dists)
                masks.append(mask)
        result.segments.append(score)
    if not result.segments:
        result.reason = "no face segment"
    elif not pooled:
        result.reason = "; ".join(dict.fromkeys(s.reason for s in result.segments))
    else:
        curve = gated_curve(np.concatenate(pooled), np.concatenate(masks), wide)
        near = curve.narrowed(vshift)
        result.offset, result.min_dist, result.confidence = near.best()
        result.curve = near.curve
        result.reason = None if exact else beyond_reason(near, curve, result.uncertain_below)
        windows = [w for s in result.segments if s.chosen for w in s.over_time]
        result.drift = drift_line(windows, settings.over_time)
    return result


def _segment_reason(clip: ClipData, seg, score: SegmentScore, settings: ScoreSettings, gated: bool) -> str | None:
    """Why a segment with embeddings still has no score: silence, no window, no speech, bad numbers."""
    piece = clip.samples[seg.start * SAMPLES_PER_FRAME:seg.stop * SAMPLES_PER_FRAME]
    level = level_dbfs(piece)
    if level < settings.silence_dbfs:
        return f"silent audio in this segment ({level:.1f} dBFS < {settings.silence_dbfs:g} dBFS)"
    if seg.windows == 0:
        return "no window"
    if gated:
        reason = no_speech_reason(score.speech_frames, seg.stop - seg.start, settings.speech)
        if reason:
            return reason
    if not (np.isfinite(seg.visual).all() and np.isfinite(seg.audio).all()):
        return "non-finite embeddings"
    return None


def _narrow(matrix: np.ndarray, wide: int, vshift: int) -> np.ndarray:
    cut = wide - vshift
    return matrix[:, cut:matrix.shape[1] - cut]


def _fill(score: SegmentScore, curve: GatedCurve, dists: np.ndarray, mask: np.ndarray,
          settings: ScoreSettings) -> None:
    """A scored segment's numbers, its per-window confidence (syncnet_python's, median-filtered; 0
    where the best shift's pair is left out) and its offsets over time."""
    score.offset, score.min_dist, score.confidence = curve.best()
    score.curve = curve.curve
    best = curve.vshift - score.offset
    median = float(np.median(curve.curve[curve.compared]))
    framewise = np.where(mask[:, best], median - dists[:, best], 0.0).astype(np.float32)
    with warnings.catch_warnings():  # scipy warns when a segment is shorter than the kernel
        warnings.simplefilter("ignore", UserWarning)
        score.frame_confidence = medfilt(framewise, MEDFILT_KERNEL)
    score.over_time = over_time(dists, mask, curve.vshift, score.window_first, score.window, settings.over_time)


def beyond_reason(near: GatedCurve, wide: GatedCurve, uncertain_below: float | None) -> str | None:
    """"beyond the searched range" instead of a number inside it. With an "uncertain" threshold (the
    training-free scorer): the best shift within a frame of the range's edge and uncertain (issue 19's
    rule), or uncertain anywhere while the probe out to ±wide finds a confident, closer match outside the
    range. Without one (unisync, syncnet): the best shift on the edge itself while the probe finds the
    curve still falling beyond it. An answer that is neither keeps its number."""
    offset, low, confidence = near.best()
    vshift = near.vshift
    if uncertain_below is None:
        flagged = abs(offset) == vshift
        uncertain = at_edge = flagged
    else:
        uncertain = confidence < uncertain_below
        at_edge = uncertain and abs(offset) >= vshift - TOLERANCE_FRAMES
    if not uncertain:
        return None
    if wide.vshift > vshift:
        far, far_low, _ = wide.best()
        # its confidence over the 2·vshift + 1 shifts around it, as the near answer's: the median − minimum
        # of a longer curve grows with its length alone
        _, _, far_confidence = wide.around(far, vshift).best()
        if abs(far) > vshift and far_low < low and (uncertain_below is None or far_confidence >= uncertain_below):
            return (f"{BEYOND} (±{vshift} frames): the best match is at {far:+d} frames (confidence "
                    f"{far_confidence:.2f}); search it with --max-offset {abs(far) + 5}")
    if at_edge and uncertain_below is not None:
        checked = f"; nothing closer out to ±{wide.vshift}" if wide.vshift > vshift else ""
        return f"{BEYOND} (±{vshift} frames): the best shift is at the range's edge with a low confidence{checked}"
    return None


def segment_box(track: np.ndarray | None, start: int, stop: int) -> tuple[float, ...] | None:
    """The median face box (x1, y1, x2, y2) of a track's frames [start, stop): the report's thumbnail."""
    if track is None or stop <= start or len(track) < stop:
        return None
    box = np.nanmedian(np.asarray(track[start:stop, :4], np.float64), axis=0)
    return tuple(float(v) for v in box) if np.isfinite(box).all() else None


def failed(video: str, clip_id: str, scorer: str, reason: str, frames: int = 0) -> VideoScore:
    return VideoScore(video=video, clip_id=clip_id, scorer=scorer, reason=reason, frames=frames)


def score_or_reason(score: Callable[[], VideoScore], video: str, clip_id: str, scorer: str, frames: int = 0,
                    label: str | None = None) -> VideoScore:
    """`score()`, or a row with the reason instead: NoScore's message, or any other error's type and
    message (logged under `label`, default the video). Bad input must never stop a run of thousands."""
    try:
        return score()
    except NoScore as err:
        return failed(video, clip_id, scorer, str(err), frames)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as err:
        log.warning("%s: %s: %s", label or video, type(err).__name__, err)
        return failed(video, clip_id, scorer, f"error: {type(err).__name__}: {err}", frames)


def silence_reason(samples: np.ndarray, silence_dbfs: float) -> str | None:
    level = level_dbfs(samples)
    if level < silence_dbfs:
        return ("silent audio (digital silence)" if level < -150
                else f"silent audio ({level:.1f} dBFS < {silence_dbfs:g} dBFS)")
    return None
