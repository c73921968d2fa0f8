"""The loop every extraction stage shares: each clip of the shard either yields frames or a recorded
reason, and the shard file is published only once every clip is accounted for."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from unisync_model.progress import progress
from unisync_model.shards import ShardWriter

log = logging.getLogger(__name__)


class SkipClip(Exception):
    """Raised by a stage's per-clip function: the clip is recorded as skipped with this reason."""


def run_stage(clip_ids: Iterable[str], process: Callable[[str], np.ndarray], out: str | Path, stage: str,
              attrs: dict[str, Any], skip_on: tuple[type[BaseException], ...] = (),
              upstream_skipped: Iterable[dict] = ()) -> tuple[int, int]:
    """Apply `process` to each clip, writing a shard; returns (written, skipped).

    `upstream_skipped` are the skip records of the shard this stage reads: they are carried over, so
    every shard file accounts for every clip of its shard."""
    clip_ids = list(clip_ids)
    written = skipped = 0
    with ShardWriter(out, stage, attrs) as writer:
        for record in upstream_skipped:
            writer.skip(record["clip_id"], record["reason"])
            skipped += 1
        for clip_id in progress(clip_ids, desc=stage, unit="clip"):
            try:
                frames = process(clip_id)
            except (SkipClip, *skip_on) as err:
                writer.skip(clip_id, str(err))
                log.warning("%s: skipped %s: %s", stage, clip_id, err)
                skipped += 1
                continue
            writer.add(clip_id, frames)
            written += 1
    log.info("%s: %d clips written, %d skipped -> %s", stage, written, skipped, out)
    return written, skipped
