"""The files `unisync score` writes (`write_outputs`, in `--out-dir`), and `merge_outputs`, which joins
the outputs of several runs (the workflow's shards) into one folder. Every file is written atomically
(io/atomic_files.py): no reader, and no interrupted run, ever leaves a half-written table under its
final name.

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
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.figures import save_png
from unisync_model.model.lse import VSHIFT
from unisync_model.scoring.results import CONVENTION, MS_PER_FRAME, NO_SCORE, OK, VideoScore
from unisync_model.scoring.scorers import Scorer
from unisync_model.settings import FPS

log = logging.getLogger(__name__)

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
    "verdict",  # in sync (|offset| ≤ 1 frame), out of sync, uncertain (confidence under the threshold), no score
    # LatentSync's per-video numbers (its eval_syncnet_acc: the mean over the video's face tracks of each
    # track's own offset / confidence / min dist), beside ours (one curve pooled over every segment's windows)
    "track_mean_offset", "track_mean_confidence", "track_mean_min_dist",
    "segments",  # face segments found
    "segments_scored",  # of those, with a score
    "windows",  # windows pooled into the curve
    "frames",  # 25 fps frames of the video (0 when it was not decoded)
    "speech_share",  # share of the face segments' frames with speech (empty when the scorer does not measure it)
    "searched_range_frames",  # offsets −N…+N frames were searched (--max-offset)
    "drift",  # True: the offset moves steadily over the video (offsets over time; scores.json has the line)
    "drift_ms_per_min",  # how fast it moves (> 0: the audio runs fast); empty with fewer than 3 windows
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
    "speech_share",  # share of the segment's frames with speech (empty when not measured)
    "track",  # the face track (0, 1, …): with several faces in a shot, every track long enough is scored
    "chosen",  # True: this track is its shot's speaker, pooled into the video's numbers
]


def plot_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", clip_id.replace("/", "__")).strip("_") + ".png"


def plot_video(result: VideoScore, path: str | Path, description: str = "") -> None:
    """The distance curve over offsets (pooled bold, segments thin), the per-frame confidence, and the
    offsets over time with the drift line."""
    from matplotlib.figure import Figure

    vshift = len(result.curve) // 2
    offsets = vshift - np.arange(2 * vshift + 1)
    # fixed margins and legend place: the layout engines and legend "best" cost more than the drawing
    fig = Figure(figsize=(9, 9))
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.06, hspace=0.4)
    top, bottom, lowest = fig.subplots(3, 1)
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
    top.legend(fontsize=7, loc="upper right")
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
    plot_over_time(lowest, result, frames)
    if description:
        fig.suptitle(description, fontsize=7, wrap=True)
    save_png(fig, path, dpi=90, layout=False)


def plot_over_time(ax, result: VideoScore, frames: int) -> None:
    """Each scored segment's offsets in sliding windows (dot size: confidence) and the drift line."""
    for s in result.segments:
        points = [(w.centre_s, w.offset, w.confidence) for w in s.over_time if w.offset is not None]
        if points:
            t, offset, confidence = map(np.array, zip(*points))
            ax.scatter(t, offset, s=10 + 60 * np.clip(confidence / 0.5, 0, 1),
                       color="tab:blue" if s.chosen else "tab:grey", alpha=0.7)
    if result.drift is not None:
        windows = [w for s in result.segments if s.chosen for w in s.over_time if w.offset is not None]
        t = np.array([windows[0].centre_s, windows[-1].centre_s])
        ax.plot(t, [result.drift.offset_at(x) for x in t], color="tab:red" if result.drift.drift else "tab:grey", lw=1,
                label=f"{'drift' if result.drift.drift else 'no drift'}: {result.drift.rate_ms_per_min:+.0f} ms/min")
        ax.legend(fontsize=7, loc="upper right")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlim(0, max(frames, 1) / FPS)
    ax.set_xlabel("time (s): window centres (grey: tracks not chosen as the speaker)")
    ax.set_ylabel("offset (frames)")


def write_csv(table: pd.DataFrame, path: Path) -> None:
    write_atomic(path, table.to_csv(index=False))


def draw_plot(result: VideoScore, out_dir: str | Path, description: str) -> None:
    """plots/<clip id>.png in out_dir for a scored video, named in result.plot; a failed plot is logged
    and left out (a plot is never worth losing the table)."""
    result.plot = f"plots/{plot_name(result.clip_id)}"
    try:
        plot_video(result, Path(out_dir) / result.plot, description)
    except Exception as err:
        log.warning("%s: plot failed: %s: %s", result.clip_id, type(err).__name__, err)
        result.plot = ""


def write_outputs(results: list[VideoScore], out_dir: str | Path, scorer: Scorer, plots: bool = True) -> dict:
    """videos.csv, segments.csv, scores.json and plots/ in out_dir; returns the counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        for result in results:
            if result.ok and not result.plot:  # score_videos(plot_dir=…) drew them as it went
                draw_plot(result, out_dir, scorer.description)
    videos = pd.DataFrame([r.row() for r in results], columns=VIDEO_COLUMNS)
    segments = pd.DataFrame([s.row(r) for r in results for s in r.segments], columns=SEGMENT_COLUMNS)
    for table in (videos, segments):  # whole frames stay integers next to the empty cells of "no score" rows
        table["offset_frames"] = table["offset_frames"].astype("Int64")
    videos["audio_stream"] = videos["audio_stream"].astype("Int64")
    write_csv(videos, out_dir / "videos.csv")
    write_csv(segments, out_dir / "segments.csv")
    vshift = max((r.searched_range or VSHIFT for r in results), default=VSHIFT)
    record = {"scorer": scorer.name, "description": scorer.description, "convention": CONVENTION, "vshift": vshift,
              "fps": FPS, "offsets": [vshift - j for j in range(2 * vshift + 1)], "columns": column_notes(scorer),
              "videos": [r.record() for r in results]}
    write_atomic(out_dir / "scores.json", json.dumps(record, indent=1, allow_nan=False))
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
    write_csv(pd.concat(videos or [pd.DataFrame(columns=VIDEO_COLUMNS)]), out_dir / "videos.csv")
    write_csv(pd.concat(segments or [pd.DataFrame(columns=SEGMENT_COLUMNS)]), out_dir / "segments.csv")
    write_atomic(out_dir / "scores.json", json.dumps({**(head or {}), "videos": records}, indent=1))
    return len(records)
