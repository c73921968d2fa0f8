"""The manifest: one row per clip with its speaker, split, paths, shard, media facts and status.

Every listed clip is probed (ffprobe, in a thread pool: the work happens in subprocesses), and a
clip that cannot be used at all gets its reason here — file missing, unreadable, no video stream,
no audio stream, too short — so later stages only see clips worth decoding. What a stage finds
later (no face, …) is recorded in that stage's shards; the report joins both.
"""
from __future__ import annotations

import dataclasses
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from unisync_model.corpora import CLIP_COLUMNS, RECIPES
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.media import MediaError, probe
from unisync_model.io.progress import progress
from unisync_model.settings import FPS, WINDOW_FRAMES

log = logging.getLogger(__name__)
STATUS_OK = "ok"


def shard_name(index: int) -> str:
    return f"{index:03d}"


def shard_names(shards: int) -> list[str]:
    return [shard_name(k) for k in range(shards)]


def shard_of(clip_id: str, shards: int) -> str:
    """A stable shard per clip (CRC32 of its id), so adding clips never moves the others."""
    return shard_name(zlib.crc32(clip_id.encode()) % shards)


def probe_clip(path: str, audio_path: str) -> dict:
    """The media facts of one clip (audio facts from its audio file), and its status: ok, or skipped
    with the reason."""
    try:
        info = probe(path, audio_path)
    except MediaError as err:
        return {"status": f"skipped: {err}"}
    facts = {k: v for k, v in dataclasses.asdict(info).items() if k not in CLIP_COLUMNS}
    if not info.has_audio:
        return {**facts, "status": "skipped: no audio stream"}
    if 0 < info.video_seconds * FPS < WINDOW_FRAMES:  # unknown (0): the tracks stage counts frames
        return {**facts, "status": f"skipped: too short: {info.video_seconds:.2f} s of video "
                                  f"(< {WINDOW_FRAMES} frames)"}
    return {**facts, "status": STATUS_OK}


def build_manifest(recipe: str, root: str | Path, shards: int, options: dict | None = None,
                   threads: int = 4) -> pd.DataFrame:
    if recipe not in RECIPES:
        raise ValueError(f"unknown corpus recipe {recipe!r}; known: {sorted(RECIPES)}")
    clips = RECIPES[recipe](root, **(options or {}))
    if clips["clip_id"].duplicated().any():
        dupes = clips.loc[clips["clip_id"].duplicated(), "clip_id"].tolist()[:5]
        raise ValueError(f"clip ids listed twice, e.g. {dupes}")
    clips = clips[CLIP_COLUMNS].reset_index(drop=True)
    clips["shard"] = [shard_of(c, shards) for c in clips["clip_id"]]
    with ThreadPoolExecutor(max(1, threads)) as pool:
        facts = list(progress(pool.map(probe_clip, clips["path"], clips["audio_path"]), total=len(clips),
                              desc="probe", unit="clip"))
    return pd.concat([clips, pd.DataFrame(facts, index=clips.index)], axis=1)


def summary(clips: pd.DataFrame) -> str:
    counts = clips["status"].value_counts()
    return f"{len(clips)} clips, {clips['speaker'].nunique()} speakers; " + ", ".join(
        f"{n} {status}" for status, n in counts.items())


def write_manifest(clips: pd.DataFrame, out: str | Path) -> None:
    write_atomic(out, lambda tmp: clips.to_parquet(tmp, index=False))


def read_manifest(path: str | Path, shard: str | None = None) -> pd.DataFrame:
    clips = pd.read_parquet(path)
    return clips if shard is None else clips[clips["shard"] == shard].reset_index(drop=True)
