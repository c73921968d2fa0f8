"""What the workflow knows of a corpus before any job runs, and how big each per-shard job is.

Planning must stay cheap at 150,000 clips: the corpus is counted from the recipe's listing alone
(filelists or a directory walk, never a probe), which gives `shards: auto` its number and each shard
its clip count. The manifest job then writes a small per-shard summary (clips, frames, the longest
clip: `shard_sizes`), and a job's memory and time come from its own shard's entry, so SLURM jobs are
sized for their shard rather than the largest. Before the manifest exists (a dry run), a shard's
frames are the config's guess per clip times its listed clips.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from unisync_model.corpora import RECIPES
from unisync_model.corpora.manifest import STATUS_OK, shard_names, shard_of
from unisync_model.io.atomic_files import write_atomic
from unisync_model.settings import FPS

AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class CorpusPlan:
    """The shards of a corpus and, when it could be listed at planning, the clips listed in each."""

    shards: list[str]
    listed: dict[str, int] | None  # shard → clips listed; None when the corpus was not there to list

    @property
    def clips(self) -> int | None:
        return None if self.listed is None else sum(self.listed.values())


def list_clip_ids(recipe: str, root: str | Path, options: dict) -> list[str] | None:
    """The clip ids the recipe lists, or None when the corpus is not there yet (a rule makes it)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown corpus recipe {recipe!r}; known: {sorted(RECIPES)}")
    if not Path(root).exists() or (options.get("csv") and not Path(options["csv"]).exists()):
        return None
    return RECIPES[recipe](root, **options)["clip_id"].tolist()


def auto_shards(clips: int, clips_per_shard: int) -> int:
    """About `clips_per_shard` clips a shard (at least one shard)."""
    return max(1, math.ceil(clips / clips_per_shard))


def plan_corpus(recipe: str, root: str | Path, options: dict, shards: int | str,
                clips_per_shard: int) -> CorpusPlan:
    """The shard names (`shards` given, or `auto` from the listed count) and the clips listed per shard.

    With a number of shards, a corpus the recipe cannot list yet only loses the per-shard counts (the
    manifest job reports why); `auto` needs the listing, and says so."""
    try:
        ids = list_clip_ids(recipe, root, options)
    except (OSError, ValueError, TypeError):  # TypeError: options another recipe takes
        if shards == AUTO:
            raise
        ids = None
    if shards == AUTO:
        if ids is None:
            raise ValueError(f"corpus.shards: auto counts the corpus's clips at planning, but {root} is not "
                             "there yet; give a number of shards")
        shards = auto_shards(len(ids), clips_per_shard)
    names = shard_names(int(shards))
    if ids is None:
        return CorpusPlan(names, None)
    counts = Counter(shard_of(c, len(names)) for c in ids)
    return CorpusPlan(names, {s: counts.get(s, 0) for s in names})


# ------------------------------------------------------------------ what each shard holds

def shard_sizes(clips: pd.DataFrame, shards: list[str]) -> dict[str, dict[str, int]]:
    """Per shard, from the manifest: its usable clips, their 25 fps frames, and its longest clip's."""
    sizes = {s: {"clips": 0, "frames": 0, "longest": 0} for s in shards}
    ok = clips[clips["status"] == STATUS_OK]
    if len(ok):
        frames = (ok["video_seconds"].fillna(0).astype(float) * FPS).round().astype(int)
        for shard, group in frames.groupby(ok["shard"]):
            sizes[shard] = {"clips": len(group), "frames": int(group.sum()), "longest": int(group.max())}
    return sizes


def write_shard_sizes(clips: pd.DataFrame, shards: int, out: str | Path) -> None:
    write_atomic(out, json.dumps(shard_sizes(clips, shard_names(shards)), indent=1, sort_keys=True))


_read: dict[str, tuple[int, dict]] = {}


def read_shard_sizes(path: str | Path) -> dict[str, dict[str, int]] | None:
    """The manifest's per-shard summary, or None if it is not written yet. Read once per change: every
    job's resources ask for it while a workflow is planned."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    key = os.path.abspath(path)
    if key not in _read or _read[key][0] != stamp:
        _read[key] = (stamp, json.loads(Path(path).read_text(encoding="utf-8")))
    return _read[key][1]


def planned_size(plan: CorpusPlan, shard: str, guess: dict) -> dict[str, int]:
    """A shard's size before the manifest has measured it: its listed clips (the config's
    clips_per_shard where the corpus could not be listed) at the config's guessed frames per clip."""
    clips = guess["clips_per_shard"] if plan.listed is None else plan.listed.get(shard, 0)
    return {"clips": clips, "frames": clips * guess["frames_per_clip"],
            "longest": guess["longest_clip_frames"] if clips else 0}


def shard_size(sizes_path: str | Path, plan: CorpusPlan, shard: str, guess: dict) -> dict[str, int]:
    """The shard's size as the manifest measured it, or as planned while there is no manifest yet."""
    sizes = read_shard_sizes(sizes_path)
    if sizes is not None and shard in sizes:
        return sizes[shard]
    return planned_size(plan, shard, guess)


# ------------------------------------------------------------------ a job's memory and time

def shard_job_mem_mb(size: dict, rule: dict, attempt: int = 1) -> int:
    """Memory of a per-shard job: the rule's base and per frame of the shard's longest clip (the stages
    hold one clip's data at a time), times the attempt (a job killed for memory retries with more)."""
    return math.ceil(rule["mem_mb"] + rule["mb_per_frame"] * size["longest"]) * attempt


def shard_job_runtime(size: dict, rule: dict) -> int:
    """Minutes of a per-shard job: the rule's base (loading its models) and per 1,000 frames of the shard."""
    return math.ceil(rule["runtime"] + rule["minutes_per_kframe"] * size["frames"] / 1000)


def corpus_job_mem_mb(clips: int, rule: dict, attempt: int = 1) -> int:
    """Memory of a job over the whole listing (the manifest): base and per 1,000 clips."""
    return math.ceil(rule["mem_mb"] + rule["mb_per_kclip"] * clips / 1000) * attempt


def corpus_job_runtime(clips: int, rule: dict) -> int:
    return math.ceil(rule["runtime"] + rule["minutes_per_kclip"] * clips / 1000)
