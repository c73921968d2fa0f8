"""The manifest: one row per clip with its speaker, split, path, shard and status."""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import pandas as pd

from unisync_model.corpora import CLIP_COLUMNS, RECIPES

STATUS_OK = "ok"


def shard_name(index: int) -> str:
    return f"{index:03d}"


def shard_names(shards: int) -> list[str]:
    return [shard_name(k) for k in range(shards)]


def shard_of(clip_id: str, shards: int) -> str:
    """A stable shard per clip (CRC32 of its id), so adding clips never moves the others."""
    return shard_name(zlib.crc32(clip_id.encode()) % shards)


def build_manifest(recipe: str, root: str | Path, shards: int) -> pd.DataFrame:
    if recipe not in RECIPES:
        raise ValueError(f"unknown corpus recipe {recipe!r}; known: {sorted(RECIPES)}")
    clips = RECIPES[recipe](root)
    if clips["clip_id"].duplicated().any():
        dupes = clips.loc[clips["clip_id"].duplicated(), "clip_id"].tolist()[:5]
        raise ValueError(f"clip ids listed twice, e.g. {dupes}")
    clips = clips[CLIP_COLUMNS].copy()
    clips["shard"] = [shard_of(c, shards) for c in clips["clip_id"]]
    clips["status"] = [STATUS_OK if Path(p).is_file() else "skipped: file missing" for p in clips["path"]]
    return clips.reset_index(drop=True)


def write_manifest(clips: pd.DataFrame, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    clips.to_parquet(tmp, index=False)
    os.replace(tmp, out)


def read_manifest(path: str | Path, shard: str | None = None) -> pd.DataFrame:
    clips = pd.read_parquet(path)
    return clips if shard is None else clips[clips["shard"] == shard].reset_index(drop=True)
