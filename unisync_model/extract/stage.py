"""The loop every extraction stage shares: each clip of the shard either yields frames or a recorded
reason, and the shard file is published only once every clip is accounted for."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from unisync_model.io.progress import progress
from unisync_model.io.shards import ShardWriter

log = logging.getLogger(__name__)


class SkipClip(Exception):
    """Raised by a stage's per-clip function: the clip is recorded as skipped with this reason."""


def run_stage(clip_ids: Iterable[str], process: Callable[[str], np.ndarray | tuple[np.ndarray, dict]],
              out: str | Path, stage: str, attrs: dict[str, Any], skip_on: tuple[type[BaseException], ...] = (),
              upstream_skipped: Iterable[dict] = ()) -> tuple[int, int]:
    """Apply `process` to each clip, writing a shard; returns (written, skipped). `process` returns
    the clip's frames, or (frames, info) where info is a record of what it decided.

    `upstream_skipped` are the skip records of the shard this stage reads: they are carried over, so
    every shard file accounts for every clip of its shard."""
    clip_ids = list(clip_ids)
    written = skipped = 0
    reasons: Counter[str] = Counter()
    with ShardWriter(out, stage, attrs) as writer:
        for record in upstream_skipped:
            writer.skip(record["clip_id"], record["reason"])
            reasons["upstream: " + record["reason"].split(":")[0]] += 1
            skipped += 1
        for clip_id in progress(clip_ids, desc=stage, unit="clip"):
            try:
                result = process(clip_id)
            except (SkipClip, *skip_on) as err:
                writer.skip(clip_id, str(err))
                reasons[str(err).split(":")[0]] += 1
                log.warning("%s: skipped %s: %s", stage, clip_id, err)
                skipped += 1
                continue
            frames, info = result if isinstance(result, tuple) else (result, None)
            writer.add(clip_id, frames, info)
            written += 1
    log.info("%s: %d clips written, %d skipped -> %s", stage, written, skipped, out)
    for reason, count in reasons.most_common():
        log.info("%s: skipped %d × %s", stage, count, reason)
    return written, skipped
