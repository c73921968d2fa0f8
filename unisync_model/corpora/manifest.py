"""The manifest: one row per clip with its speaker, split, paths, shard, media facts and status.

Every listed clip is probed (media.probe: in-process with PyAV, ~1 ms of CPU for an LRS2 clip; by
ffprobe where PyAV cannot tell; bench/manifest_speed.py), and a clip that cannot be used at all gets
its reason here — file missing, unreadable, no video stream, no audio stream, too short — so later
stages only see clips worth decoding. What a stage finds later (no face, …) is recorded in that
stage's shards; the report joins both.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from unisync_model.corpora import CLIP_COLUMNS, RECIPES
from unisync_model.io import media
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


POOLS = ("serial", "threads", "processes")
POOL = "processes"  # with more than one worker; bench/manifest_speed.py measured the three (probe_clips)
CHUNK = 64  # clips per task sent to a worker process
FILES_PER_WORKER = 500  # fewer files than this per worker are probed serially (a worker costs ~0.7 s to start)


def probe_clips(paths: list[str], audio_paths: list[str], workers: int = 1, pool: str = POOL) -> list[dict]:
    """probe_clip of every clip, in order, each worker one thread: in this process when `workers` is 1
    or the clips are few; else on `workers` processes (or threads). Measured (bench/manifest_speed.py,
    3,000 LRS2-sized clips, 2 cores): serially is the cheapest per core, ~1,000 clips per CPU second
    (LRS2's 144,482 in ~2.5 minutes of one core); on 2 workers threads give 1,370 clips/s for ~20 %
    more CPU, processes 1,530 clips/s for ~25 % more (0.7 s of it each worker's start). Threads cannot
    pass ~3 workers' worth (by a profile, a third of a probe holds the GIL); processes scale with cores."""
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; known: {POOLS}")
    workers = min(workers, len(paths) // FILES_PER_WORKER) if pool == "processes" else workers
    bar = {"total": len(paths), "desc": "probe", "unit": "clip"}
    if workers <= 1 or pool == "serial":
        return list(progress(map(probe_clip, paths, audio_paths), **bar))
    if pool == "threads":
        with ThreadPoolExecutor(workers) as executor:
            return list(progress(executor.map(probe_clip, paths, audio_paths), **bar))
    # spawned (as scoring's workers): no copy of this process's threads and locks; each imports this
    # module (~0.7 s of CPU), and their CPU time counts as this process's children's
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(media.IN_PROCESS,)) as executor:
        return list(progress(executor.map(probe_clip, paths, audio_paths, chunksize=CHUNK), **bar))


def _start_worker(in_process: bool) -> None:
    media.IN_PROCESS = in_process  # as the parent probes (bench/manifest_speed.py turns it off)


def build_manifest(recipe: str, root: str | Path, shards: int, options: dict | None = None,
                   threads: int = 4, pool: str = POOL) -> pd.DataFrame:
    """The manifest of a corpus: its recipe's clips, each with its shard, media facts and status;
    probed on `threads` workers (see probe_clips)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown corpus recipe {recipe!r}; known: {sorted(RECIPES)}")
    clips = RECIPES[recipe](root, **(options or {}))
    if clips["clip_id"].duplicated().any():
        dupes = clips.loc[clips["clip_id"].duplicated(), "clip_id"].tolist()[:5]
        raise ValueError(f"clip ids listed twice, e.g. {dupes}")
    clips = clips[CLIP_COLUMNS].reset_index(drop=True)
    clips["shard"] = [shard_of(c, shards) for c in clips["clip_id"]]
    facts = probe_clips(list(clips["path"]), list(clips["audio_path"]), threads, pool)
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
