"""Score the audio-visual sync of any video: the AV offset, its confidence and the minimum distance, per
face segment and per video, with syncnet_python's LSE-D / LSE-C aggregation (`sync_metrics.py`) over
the embeddings of a scorer (`scorers.py`: training-free, unisync or syncnet).

Two routes to the same numbers:

- **from videos** (`score_videos`, `unisync score PATH…`): a video, a folder (searched recursively
  for video files) or a text file listing videos (one per line, relative to the list's folder, `#`
  comments); each is probed, its audio decoded, its speaking face tracked (`extract/tracks.py`) and
  what the scorer needs computed with the stages' per-clip functions.
- **from shards** (`score_shard`, the workflow's `score` rule): a shard of a corpus whose tracks /
  audio / landmarks (or the model's representations) the extraction stages already wrote.

**Sign convention** (syncnet_python's "AV offset", as `sync_metrics.py`): `offset_frames` > 0 means
the audio *leads* the video — a sound is heard `offset_frames` frames (× 40 ms) before the mouth makes
it; < 0 means the audio lags. `unisync fix VIDEO --offset N` (fix_sync.py) delays the audio by N frames
(advances it when N < 0), so a fixed video scores ≈ 0. Frames are 25 fps frames whatever the source's
frame rate (every stage resamples to 25 fps CFR).

**Bad input never stops a run.** A video that cannot be scored gets a row with `status` "no score"
and a `reason` instead of numbers: file missing / unreadable / no video stream (ffprobe), no audio
stream, silent audio (RMS below `silence_dbfs`, −55 dBFS by default; the quietest real clip in
../shared/data/clips is −36 dBFS), no face / face tracks too short (tracks stage), a segment shorter
than the scorer's window, any other error (its type and message). Music without speech is not told
apart from speech: it gets numbers, usually with a low confidence.

Outputs (`write_outputs`, in `--out-dir`):

- `videos.csv`, one row per video: VIDEO_COLUMNS. The video's numbers pool the windows of all its
  scored segments into one distance curve (syncnet_python's evaluation over one track, with every
  window of every segment), so a long segment weighs more than a short one.
- `segments.csv`, one row per face segment (tracks stage): SEGMENT_COLUMNS.
- `scores.json`: the scorer (name, description of its distance), the sign convention, and per video
  its rows plus the curves: `curve` (the 31 mean distances, index j ↔ offset 15 − j, as
  syncnet_python's mean_dists; `offsets` lists them) and per segment its curve and
  `frame_confidence` (syncnet_python's per-window confidence, median-filtered; window k belongs to
  frame first_frame + k + window // 2).
- `plots/<clip id>.png` per scored video: the distance curve over offsets (pooled and per segment)
  and the per-frame confidence over time.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from unisync_model.extract.stage import SkipClip
from unisync_model.io.figures import save_png
from unisync_model.io.media import MediaError, probe, speech_audio
from unisync_model.io.progress import progress
from unisync_model.model.lse import VSHIFT, calc_pdist, syncnet_lse
from unisync_model.scoring.inputs import expand_inputs
from unisync_model.scoring.scorers import (SAMPLES_PER_FRAME, ClipData, NoScore, Scorer, StageSettings,
                                           TrainingFreeSettings, level_dbfs, make_scorer)
from unisync_model.settings import FPS, TracksSettings

log = logging.getLogger(__name__)

MS_PER_FRAME = 1000.0 / FPS
OK = "ok"
NO_SCORE = "no score"
CONVENTION = ("offset_frames > 0: the audio leads the video (heard before the mouth moves); < 0: the audio lags. "
              "syncnet_python's AV offset. `unisync fix --offset N` delays the audio by N frames (N < 0: advances).")

VIDEO_COLUMNS = [
    "video",  # the path as given (or the manifest's path)
    "clip_id",  # a unique name: the path relative to the folder given, without extension (plots are named after it)
    "scorer",  # training-free, unisync or syncnet (the JSON describes its distance)
    "status",  # ok, or "no score"
    "reason",  # why there is no score (empty when status is ok)
    "offset_frames",  # AV offset in 25 fps frames (see CONVENTION)
    "offset_ms",  # the same in milliseconds (40 ms per frame)
    "confidence",  # LSE-C: median − minimum of the pooled distance curve
    "min_dist",  # LSE-D: the minimum of the pooled distance curve
    "segments",  # face segments found
    "segments_scored",  # of those, with a score
    "windows",  # windows pooled into the curve
    "frames",  # 25 fps frames of the video (0 when it was not decoded)
    "audio_stream",  # N of the audio stream scored (ffmpeg's 0:a:N); empty when none was decoded
    "plot",  # the plot's path relative to the output folder (empty without a score)
]
SEGMENT_COLUMNS = [
    "video", "clip_id", "scorer",
    "segment",  # index of the face segment in the video (0, 1, …)
    "first_frame", "stop_frame",  # the segment's frames [first_frame, stop_frame) at 25 fps
    "start_s", "end_s",  # the same in seconds
    "status", "reason", "offset_frames", "offset_ms", "confidence", "min_dist",
    "windows",  # the segment's windows
]


@dataclass(frozen=True)
class ScoreSettings(StageSettings):
    """Everything `unisync score --settings` takes (JSON; config.yaml's sections have the same names):
    the settings of the stages a scorer computes from the video, and these."""

    silence_dbfs: float = -55.0  # a video (or segment) quieter than this is "silent audio"
    audio_stream: int | None = None  # audio stream N (0:a:N); None: the default, or the first that is not silent
    batch_size: int = 256  # windows per forward pass (unisync)
    tracks: TracksSettings = field(default_factory=TracksSettings)
    training_free: TrainingFreeSettings = field(default_factory=TrainingFreeSettings)


def scorer_from_settings(name: str, model: str | Path | None = None, settings: ScoreSettings | None = None,
                         device=None) -> Scorer:
    settings = settings or ScoreSettings()
    return make_scorer(name, model, training_free=settings.training_free, stages=settings, device=device,
                       batch_size=settings.batch_size)


# ------------------------------------------------------------------------------------------ results

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
    curve: np.ndarray | None = None  # 2·vshift + 1 mean distances, index j ↔ offset vshift − j
    frame_confidence: np.ndarray | None = None  # per window (syncnet_python's, median-filtered)
    window_first: int = 0  # frame of the first window
    window: int = 5  # frames per window
    dists: np.ndarray | None = field(default=None, repr=False)  # windows × (2·vshift + 1), for pooling

    def row(self, video: "VideoScore") -> dict:
        return {"video": video.video, "clip_id": video.clip_id, "scorer": video.scorer, "segment": self.index,
                "first_frame": self.first_frame, "stop_frame": self.stop_frame,
                "start_s": round(self.first_frame / FPS, 3), "end_s": round(self.stop_frame / FPS, 3),
                **_numbers(self.reason, self.offset, self.confidence, self.min_dist), "windows": self.windows}

    def record(self) -> dict:
        out = {"segment": self.index, "first_frame": self.first_frame, "stop_frame": self.stop_frame,
               **_numbers(self.reason, self.offset, self.confidence, self.min_dist), "windows": self.windows}
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
    missing: bool = False  # a path the user named that does not exist (score_inputs.py)

    @property
    def ok(self) -> bool:
        return self.reason is None

    def line(self) -> str:
        """One tab-separated line, syncnet_python's words: what `unisync score` prints per video."""
        if not self.ok:
            return f"{self.video}\tno score: {self.reason}\tscorer: {self.scorer}"
        return (f"{self.video}\tAV offset: {self.offset:d}\tMin dist: {self.min_dist:.3f}\t"
                f"Confidence: {self.confidence:.3f}\tscorer: {self.scorer}")

    def row(self) -> dict:
        return {"video": self.video, "clip_id": self.clip_id, "scorer": self.scorer,
                **_numbers(self.reason, self.offset, self.confidence, self.min_dist),
                "segments": len(self.segments), "segments_scored": sum(s.reason is None for s in self.segments),
                "windows": sum(s.windows for s in self.segments if s.reason is None), "frames": self.frames,
                "audio_stream": self.audio_stream, "plot": self.plot}

    def record(self) -> dict:
        out = self.row()
        if self.curve is not None:
            out["curve"] = _floats(self.curve)
        out["segment_scores"] = [s.record() for s in self.segments]
        return out


def _numbers(reason, offset, confidence, min_dist) -> dict:
    if reason is not None:
        return {"status": NO_SCORE, "reason": reason, "offset_frames": None, "offset_ms": None,
                "confidence": None, "min_dist": None}
    return {"status": OK, "reason": "", "offset_frames": int(offset), "offset_ms": round(offset * MS_PER_FRAME, 1),
            "confidence": round(float(confidence), 6), "min_dist": round(float(min_dist), 6)}


def _floats(values) -> list:
    return [None if not math.isfinite(v) else round(float(v), 6) for v in np.asarray(values, np.float64)]


# ------------------------------------------------------------------------------------------ scoring

def _pool(dists: np.ndarray, vshift: int = VSHIFT) -> tuple[int, float, float, np.ndarray]:
    """syncnet_python's statistics of a windows × (2·vshift + 1) distance matrix (as syncnet_lse):
    (offset = vshift − argmin, min, median − min, the mean curve)."""
    curve = dists.mean(axis=0)
    best = int(np.argmin(curve))  # the first minimum, as torch.min
    return vshift - best, float(curve[best]), float(np.median(curve) - curve[best]), curve


def score_clip(clip: ClipData, scorer: Scorer, video: str | None = None, silence_dbfs: float = -55.0,
               vshift: int = VSHIFT) -> VideoScore:
    """Score a prepared clip: each face segment on its own (syncnet_lse), and the video on the pooled
    windows of its scored segments."""
    result = VideoScore(video=video or clip.path or clip.clip_id, clip_id=clip.clip_id, scorer=scorer.name,
                        frames=clip.frames, audio_stream=clip.audio_stream)
    pooled = []
    for index, seg in enumerate(scorer.embed(clip)):
        score = SegmentScore(index, seg.start, seg.stop, reason=seg.reason, window=scorer.window,
                             window_first=seg.first_frame)
        if score.reason is None:
            piece = clip.samples[seg.start * SAMPLES_PER_FRAME:seg.stop * SAMPLES_PER_FRAME]
            level = level_dbfs(piece)
            if level < silence_dbfs:
                score.reason = f"silent audio in this segment ({level:.1f} dBFS < {silence_dbfs:g} dBFS)"
            elif seg.windows == 0:
                score.reason = "no window"
        if score.reason is None and not (np.isfinite(seg.visual).all() and np.isfinite(seg.audio).all()):
            score.reason = "non-finite embeddings"
        if score.reason is None:
            lse = syncnet_lse(seg.visual, seg.audio, vshift, normalise=scorer.normalise)
            v, a = torch.as_tensor(seg.visual).float(), torch.as_tensor(seg.audio).float()
            if scorer.normalise:
                v, a = F.normalize(v, dim=1), F.normalize(a, dim=1)
            score.dists = calc_pdist(v, a, vshift)
            score.offset, score.min_dist, score.confidence = lse.offset, lse.min_dist, lse.confidence
            score.curve, score.frame_confidence = lse.mean_dists, lse.framewise_confidence
            score.windows = seg.windows
            pooled.append(score.dists)
        result.segments.append(score)
    if not result.segments:
        result.reason = "no face segment"
    elif not pooled:
        result.reason = "; ".join(dict.fromkeys(s.reason for s in result.segments))
    else:
        result.offset, result.min_dist, result.confidence, result.curve = _pool(np.concatenate(pooled), vshift)
    return result


def failed(video: str, clip_id: str, scorer: str, reason: str, frames: int = 0) -> VideoScore:
    return VideoScore(video=video, clip_id=clip_id, scorer=scorer, reason=reason, frames=frames)


def silence_reason(samples: np.ndarray, silence_dbfs: float) -> str | None:
    level = level_dbfs(samples)
    if level < silence_dbfs:
        return ("silent audio (digital silence)" if level < -150
                else f"silent audio ({level:.1f} dBFS < {silence_dbfs:g} dBFS)")
    return None


class VideoLoader:
    """Everything a scorer reads about a video, computed from the file: probe → audio (which stream:
    media.speech_audio; silent?) → the speaking face's track → the scorer's own inputs. Raises NoScore
    with the reason."""

    def __init__(self, scorer: Scorer, settings: ScoreSettings):
        self.scorer, self.settings = scorer, settings
        self._detector = None

    def detector(self):
        if self._detector is None:
            from unisync_model.extract.tracks import YuNetDetector
            self._detector = YuNetDetector(self.settings.tracks)
        return self._detector

    def __call__(self, path: str | Path, clip_id: str) -> ClipData:
        from unisync_model.extract.tracks import track_clip
        try:
            info = probe(path)
            if not info.has_audio:
                raise NoScore("no audio stream")
            audio = speech_audio(path, self.settings.audio_stream, self.settings.silence_dbfs, info=info)
            reason = silence_reason(audio.samples, self.settings.silence_dbfs)
            if reason:
                raise NoScore(reason + (f" in all {len(audio.tried)} audio streams" if len(audio.tried) > 1 else ""))
            track, _ = track_clip(path, self.detector(), self.settings.tracks)
            clip = ClipData(clip_id=clip_id, path=str(path), track=track, samples=audio.samples,
                            audio_stream=audio.stream)
            self.scorer.prepare(clip)
        except (MediaError, SkipClip) as err:
            raise NoScore(str(err)) from None
        return clip


def score_video(path: str | Path, scorer: Scorer, settings: ScoreSettings | None = None,
                clip_id: str | None = None, loader: VideoLoader | None = None) -> VideoScore:
    """One video from its file; a reason instead of numbers when it cannot be scored (never raises
    for bad input)."""
    settings = settings or ScoreSettings()
    loader = loader or VideoLoader(scorer, settings)
    clip_id = clip_id or Path(path).stem
    try:
        clip = loader(path, clip_id)
        return score_clip(clip, scorer, str(path), settings.silence_dbfs)
    except NoScore as err:
        return failed(str(path), clip_id, scorer.name, str(err))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as err:  # bad input must never stop a run of thousands of videos
        log.warning("%s: %s: %s", path, type(err).__name__, err)
        return failed(str(path), clip_id, scorer.name, f"error: {type(err).__name__}: {err}")


def score_videos(paths: Iterable[str | Path], scorer: Scorer, settings: ScoreSettings | None = None,
                 on_result: Callable[[VideoScore], None] | None = None) -> list[VideoScore]:
    """Every video named by `paths` (files, folders, list files: score_inputs.py), in order; an entry
    that cannot be read or does not exist gets its reason. `on_result` sees each result as it comes."""
    settings = settings or ScoreSettings()
    loader = VideoLoader(scorer, settings)
    results = []
    for item in progress(expand_inputs(paths), desc=f"score ({scorer.name})", unit="video"):
        result = (failed(str(item.path), item.clip_id, scorer.name, item.reason) if item.reason
                  else score_video(item.path, scorer, settings, item.clip_id, loader))
        result.missing = item.missing
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def shard_clips(manifest: str | Path, shard: str, shards_dir: str | Path, scorer: Scorer,
                settings: ScoreSettings) -> Iterator[tuple[str, str, ClipData | str]]:
    """(clip id, video path, ClipData or the reason it has none) for every clip of a manifest shard,
    read from the shards of the stages the scorer needs (the first reason met wins: the manifest's
    status, then each stage's skip record, then silence)."""
    from unisync_model.corpora.manifest import STATUS_OK, read_manifest
    from unisync_model.io.shards import ShardReader

    clips = read_manifest(manifest, shard)
    stages = list(dict.fromkeys(("audio", "tracks", *scorer.needs)))
    readers = {stage: ShardReader(Path(shards_dir) / stage / f"{shard}.h5") for stage in stages}
    skipped = {stage: {r["clip_id"]: r["reason"] for r in reader.skipped} for stage, reader in readers.items()}
    for row in clips.itertuples(index=False):
        clip_id, path = row.clip_id, str(row.path)
        if row.status != STATUS_OK:
            yield clip_id, path, str(row.status).removeprefix("skipped: ")
            continue
        reason = next((skipped[s][clip_id] for s in stages if clip_id in skipped[s]), None)
        reason = reason or next((f"missing from the {s} shard" for s in stages if clip_id not in readers[s]), None)
        if reason:
            yield clip_id, path, reason
            continue
        samples = readers["audio"].read(clip_id).astype(np.float32) / 32768.0
        reason = silence_reason(samples, settings.silence_dbfs)
        if reason:
            yield clip_id, path, reason
            continue
        clip = ClipData(clip_id=clip_id, path=path, track=readers["tracks"].read(clip_id), samples=samples,
                        arrays={s: readers[s].read(clip_id) for s in stages if s not in ("audio", "tracks")},
                        audio_stream=readers["audio"].info(clip_id).get("stream"))
        yield clip_id, path, clip


def score_shard(manifest: str | Path, shard: str, shards_dir: str | Path, scorer: Scorer,
                settings: ScoreSettings | None = None) -> list[VideoScore]:
    """Every clip of one manifest shard, from the extraction stages' shards."""
    settings = settings or ScoreSettings()
    results = []
    clips = list(shard_clips(manifest, shard, shards_dir, scorer, settings))
    for clip_id, path, clip in progress(clips, desc=f"score ({scorer.name}) {shard}", unit="video"):
        if isinstance(clip, str):
            results.append(failed(path, clip_id, scorer.name, clip))
            continue
        try:
            scorer.prepare(clip)  # only what the shards lack
            results.append(score_clip(clip, scorer, path, settings.silence_dbfs))
        except NoScore as err:
            results.append(failed(path, clip_id, scorer.name, str(err), clip.frames))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:
            log.warning("%s: %s: %s", clip_id, type(err).__name__, err)
            results.append(failed(path, clip_id, scorer.name, f"error: {type(err).__name__}: {err}", clip.frames))
    return results


# ------------------------------------------------------------------------------------------ outputs

def plot_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", clip_id.replace("/", "__")).strip("_") + ".png"


def plot_video(result: VideoScore, path: str | Path, description: str = "", vshift: int = VSHIFT) -> None:
    """The distance curve over offsets (pooled bold, segments thin) and the per-frame confidence."""
    from matplotlib.figure import Figure

    offsets = vshift - np.arange(2 * vshift + 1)
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    scored = [s for s in result.segments if s.reason is None]
    for s in sorted(scored, key=lambda s: -s.windows)[:8] if len(scored) > 1 else []:  # the 8 longest
        top.plot(offsets, s.curve, lw=0.8, alpha=0.6, label=f"segment {s.index} ({s.first_frame / FPS:.1f}–"
                                                              f"{s.stop_frame / FPS:.1f} s)")
    top.plot(offsets, result.curve, color="black", lw=2, label="video (all segments' windows)")
    top.axvline(result.offset, color="tab:red", ls="--", lw=1)
    top.axvline(0, color="grey", lw=0.5)
    top.set_xlabel("offset (frames at 25 fps; > 0: audio leads the video)")
    top.set_ylabel("mean distance")
    top.set_title(f"{result.clip_id} [{result.scorer}]: offset {result.offset:+d} frames "
                  f"({result.offset * MS_PER_FRAME:+.0f} ms), confidence {result.confidence:.3f}, "
                  f"min dist {result.min_dist:.3f}", fontsize=9)
    top.legend(fontsize=7, loc="best")
    frames = max(result.frames, max((s.stop_frame for s in result.segments), default=0))
    for s in result.segments:
        bottom.axvspan(s.first_frame / FPS, s.stop_frame / FPS, color="tab:green" if s.reason is None else "tab:grey",
                       alpha=0.08)
    for s in scored:
        t = (s.window_first + np.arange(len(s.frame_confidence)) + s.window // 2) / FPS
        bottom.plot(t, s.frame_confidence, color="tab:blue", lw=1)
    bottom.axhline(0, color="grey", lw=0.5)
    bottom.set_xlim(0, max(frames, 1) / FPS)
    bottom.set_xlabel("time (s); shaded: face segments (grey: not scored)")
    bottom.set_ylabel("per-frame confidence")
    if description:
        fig.suptitle(description, fontsize=7, wrap=True)
    save_png(fig, path, dpi=90)


def write_outputs(results: list[VideoScore], out_dir: str | Path, scorer: Scorer, plots: bool = True) -> dict:
    """videos.csv, segments.csv, scores.json and plots/ in out_dir; returns the counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        for result in results:
            if result.ok:
                result.plot = f"plots/{plot_name(result.clip_id)}"
                try:
                    plot_video(result, out_dir / result.plot, scorer.description)
                except Exception as err:  # a plot is never worth losing the table
                    log.warning("%s: plot failed: %s: %s", result.clip_id, type(err).__name__, err)
                    result.plot = ""
    videos = pd.DataFrame([r.row() for r in results], columns=VIDEO_COLUMNS)
    segments = pd.DataFrame([s.row(r) for r in results for s in r.segments], columns=SEGMENT_COLUMNS)
    for table in (videos, segments):  # whole frames stay integers next to the empty cells of "no score" rows
        table["offset_frames"] = table["offset_frames"].astype("Int64")
    videos["audio_stream"] = videos["audio_stream"].astype("Int64")
    videos.to_csv(out_dir / "videos.csv", index=False)
    segments.to_csv(out_dir / "segments.csv", index=False)
    record = {"scorer": scorer.name, "description": scorer.description, "convention": CONVENTION, "vshift": VSHIFT,
              "fps": FPS, "offsets": [VSHIFT - j for j in range(2 * VSHIFT + 1)], "columns": column_notes(scorer),
              "videos": [r.record() for r in results]}
    tmp = out_dir / "scores.json.tmp"
    tmp.write_text(json.dumps(record, indent=1, allow_nan=False))
    tmp.replace(out_dir / "scores.json")
    counts = summary(results)
    log.info("score (%s): %d videos, %d scored, %d without a score -> %s", scorer.name, counts["videos"],
             counts["scored"], counts["videos"] - counts["scored"], out_dir)
    for reason, n in counts["reasons"].items():
        log.info("score: no score × %d: %s", n, reason)
    return counts


def column_notes(scorer: Scorer) -> dict:
    """What the columns of videos.csv and segments.csv hold; confidence and min_dist borrow
    syncnet_python's names but are on the scorer's own scale."""
    return {"offset_frames": CONVENTION, "offset_ms": "offset_frames × 40 ms",
            "min_dist": f"{scorer.name}: {scorer.min_dist_scale}",
            "confidence": f"{scorer.name}: {scorer.confidence_scale}",
            "status": f"{OK!r}, or {NO_SCORE!r} with the reason in `reason`"}


def summary(results: list[VideoScore]) -> dict:
    reasons = Counter(r.reason.split(":")[0].split(" (")[0] for r in results if not r.ok)
    return {"videos": len(results), "scored": sum(r.ok for r in results), "reasons": dict(reasons.most_common()),
            "missing": [r.video for r in results if r.missing]}


def summary_line(counts: dict, out_dir: str | Path) -> str:
    """The last line `unisync score` prints: how many videos got a score, and why the others did not."""
    why = ", ".join(f"{reason} × {n}" for reason, n in counts["reasons"].items())
    return (f"scored {counts['scored']} of {counts['videos']} videos" + (f" ({why})" if why else "")
            + f"; outputs in {out_dir}")


def merge_outputs(dirs: Iterable[str | Path], out_dir: str | Path) -> int:
    """Join the outputs of several `score` runs (the workflow's shards) into one folder: the CSVs
    concatenated (plot paths made relative to out_dir), scores.json's videos in one list."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    videos, segments, records, head = [], [], [], None
    for d in map(Path, dirs):
        rel = Path(os.path.relpath(d.resolve(), out_dir.resolve()))
        table = pd.read_csv(d / "videos.csv", dtype={"plot": str, "reason": str}, keep_default_na=False)
        table["plot"] = [str(rel / p) if p else "" for p in table["plot"]]
        videos.append(table)
        segments.append(pd.read_csv(d / "segments.csv", keep_default_na=False))
        record = json.loads((d / "scores.json").read_text())
        for v in record["videos"]:
            v["plot"] = str(rel / v["plot"]) if v.get("plot") else ""
        records += record.pop("videos")
        head = head or record
    pd.concat(videos or [pd.DataFrame(columns=VIDEO_COLUMNS)]).to_csv(out_dir / "videos.csv", index=False)
    pd.concat(segments or [pd.DataFrame(columns=SEGMENT_COLUMNS)]).to_csv(out_dir / "segments.csv", index=False)
    (out_dir / "scores.json").write_text(json.dumps({**(head or {}), "videos": records}, indent=1))
    return len(records)


def settings_from_json(text: str | None) -> ScoreSettings:
    from unisync_model.settings import from_dict
    return from_dict(ScoreSettings, json.loads(text) if text else {})


__all__ = ["CONVENTION", "SEGMENT_COLUMNS", "VIDEO_COLUMNS", "ScoreSettings", "SegmentScore", "VideoLoader",
           "VideoScore", "column_notes", "expand_inputs", "merge_outputs", "plot_video", "score_clip", "score_shard",
           "score_video", "score_videos", "scorer_from_settings", "settings_from_json", "summary_line",
           "write_outputs"]
