"""Resync: training data put in sync before the expert learns from it.

Corpora other than LRS2 carry clips whose audio is offset, and an expert trained on them learns the
offset as "in sync". Every face segment of the resynced splits' clips is scored (the training-free
scorer by default, from the shards the extraction stages wrote: `shard_route`) and gets a decision:

    keep   |offset| <= keep_within: in sync as far as a scorer can tell
    shift  the audio is read `audio_shift` = −offset frames from the mouth (results.py's sign: offset > 0,
           the audio leads, so the sound the mouth makes at frame t is heard at frame t − offset)
    drop   no score, a confidence under min_confidence, or |offset| > max_offset

Nothing is re-encoded and the shards stay as they are: training reads decisions.csv and shifts the
audio windows it reads (training/windows.py). LatentSync's data pipeline shifts and silently drops;
here every decision is written down with its numbers, and a clip without a score gets one row
(segment −1) saying why.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.figures import pyplot, save_png
from unisync_model.scoring.results import VideoScore
from unisync_model.settings import ResyncSettings
from unisync_model.training.resync_table import DECISION_COLUMNS, DROP, KEEP, SHIFT, read_decisions


def min_confidence(settings: ResyncSettings, scorer_name: str, uncertain_below: float | None) -> float:
    """The confidence under which a segment is dropped: the setting, or the training-free scorer's
    own "uncertain" threshold. Other scorers' confidences are on other scales (SyncNet's LSE-C runs to
    about 12): for them the setting must be given."""
    if settings.min_confidence is not None:
        return float(settings.min_confidence)
    if scorer_name == "training-free" and uncertain_below is not None:
        return float(uncertain_below)
    raise ValueError(f"resync with the {scorer_name} scorer needs resync.min_confidence: its confidence is on "
                     "its own scale (LatentSync keeps SyncNet's LSE-C >= 3)")


def decide(offset: int | None, confidence: float | None, reason: str | None, settings: ResyncSettings,
           floor: float) -> tuple[str, int, str]:
    """(decision, audio shift in frames, why) of one scored segment."""
    if reason:
        return DROP, 0, reason
    if abs(offset) > settings.max_offset:
        return DROP, 0, f"|offset| {abs(offset)} > max_offset {settings.max_offset}"
    if confidence < floor:
        return DROP, 0, f"confidence {confidence:.3f} < {floor:g}"
    if abs(offset) <= settings.keep_within:
        return KEEP, 0, ""
    return SHIFT, -int(offset), ""


def segment_decisions(results: Iterable[VideoScore], splits: dict[str, str], settings: ResyncSettings,
                      floor: float) -> pd.DataFrame:
    """One row per face segment of every scored clip, and one (segment −1) per clip without a score."""
    rows = []
    for video in results:
        head = {"clip_id": video.clip_id, "split": splits.get(video.clip_id, ""), "scorer": video.scorer}
        if not video.ok or not video.segments:
            rows.append({**head, "segment": -1, "first_frame": 0, "stop_frame": video.frames, "decision": DROP,
                         "audio_shift": 0, "windows": 0, "reason": video.reason or "no face segment"})
            continue
        for seg in video.segments:
            decision, shift, why = decide(seg.offset, seg.confidence, seg.reason, settings, floor)
            rows.append({**head, "segment": seg.index, "first_frame": seg.first_frame, "stop_frame": seg.stop_frame,
                         "decision": decision, "audio_shift": shift, "offset_frames": seg.offset,
                         "confidence": None if seg.confidence is None else round(float(seg.confidence), 6),
                         "windows": seg.windows, "reason": why})
    table = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    table["offset_frames"] = table["offset_frames"].astype("Int64")
    return table


def resync_shard(manifest: str | Path, shard: str, shards_dir: str | Path, scorer, score_settings,
                 settings: ResyncSettings) -> pd.DataFrame:
    """Score and decide every face segment of one manifest shard's clips of `settings.splits`."""
    from unisync_model.corpora.manifest import read_manifest
    from unisync_model.scoring.shard_route import score_shard

    floor = min_confidence(settings, scorer.name, getattr(scorer, "uncertain_below", None))
    clips = read_manifest(manifest, shard)
    results = score_shard(manifest, shard, shards_dir, scorer, score_settings, splits=tuple(settings.splits))
    return segment_decisions(results, dict(zip(clips["clip_id"], clips["split"])), settings, floor)


def write_decisions(table: pd.DataFrame, path: str | Path) -> None:
    write_atomic(path, table.to_csv(index=False))


def merge_decisions(paths: Iterable[str | Path], out_csv: str | Path, histogram: str | Path | None = None
                    ) -> pd.DataFrame:
    """The shards' decisions in one table (and a histogram of the offsets found, by decision)."""
    tables = [read_decisions(p) for p in paths]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=DECISION_COLUMNS)
    write_decisions(table, out_csv)
    if histogram is not None:
        draw_histogram(table, histogram)
    return table


def summary(table: pd.DataFrame) -> dict:
    """Counts of segments and windows by decision, and of dropped segments by reason."""
    dropped = table[table["decision"] == DROP]["reason"].str.replace(r"\d[\d.]*", "N", regex=True)
    return {"segments": {d: int((table["decision"] == d).sum()) for d in (KEEP, SHIFT, DROP)},
            "windows": {d: int(table.loc[table["decision"] == d, "windows"].sum()) for d in (KEEP, SHIFT, DROP)},
            "clips": int(table["clip_id"].nunique()), "drop_reasons": dropped.value_counts().to_dict()}


def draw_histogram(table: pd.DataFrame, path: str | Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    scored = table.dropna(subset=["offset_frames"])
    offsets = scored["offset_frames"].astype(int)
    span = max(15, int(offsets.abs().max())) if len(offsets) else 15
    bins = np.arange(-span - 0.5, span + 1.5)
    stacks = [offsets[scored["decision"] == d] for d in (KEEP, SHIFT, DROP)]
    ax.hist(stacks, bins=bins, stacked=True, label=[f"{d} ({len(s)})" for d, s in zip((KEEP, SHIFT, DROP), stacks)],
            color=["tab:green", "tab:orange", "tab:red"])
    unscored = int(table["offset_frames"].isna().sum())
    ax.set_xlabel("AV offset found (frames; > 0: the audio leads)")
    ax.set_ylabel("face segments")
    ax.set_title(f"resync: {len(table)} segments of {table['clip_id'].nunique()} clips"
                 + (f", {unscored} without a score (dropped)" if unscored else ""), fontsize=9)
    ax.legend(fontsize=8)
    save_png(fig, path)
