"""A small run on disk without any video: a manifest and rgb / mel / tracks shards for given clips,
random or time-coded (rgb frame t holds t, Mel frame j holds j − 3.2·delay: a pair's windows say
which video frames they start at, and the audio of frame t is heard `delay` frames later)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.corpora.manifest import write_manifest
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.io.shards import ShardWriter
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
from unisync_model.settings import FPS


def write_run(root: Path, clips: dict, crop: tuple[int, ...], delay: int = 0, time_code: bool = False) -> Path:
    """clips: clip id → (speaker, split, frames, face segments as [start, stop) ranges); one shard 000."""
    rng = np.random.default_rng(0)
    write_manifest(pd.DataFrame([{"clip_id": c, "speaker": spk, "split": split, "shard": "000", "status": "ok"}
                                 for c, (spk, split, _, _) in clips.items()]), root / "clips.parquet")
    shards = root / "shards"
    with ShardWriter(shards / "rgb" / "000.h5", "rgb") as rgb, ShardWriter(shards / "mel" / "000.h5", "mel") as mel, \
            ShardWriter(shards / "tracks" / "000.h5", "tracks") as tracks:
        for clip_id, (_, _, n, segments) in clips.items():
            mel_frames = math.ceil(n * MEL_RATE / FPS) + 1
            if time_code:
                rgb.add(clip_id, np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, *crop)))
                code = np.arange(mel_frames, dtype=np.float32) - delay * MEL_RATE / FPS
                mel.add(clip_id, np.repeat(code[:, None], 80, axis=1))
            else:
                rgb.add(clip_id, rng.integers(0, 256, (n, *crop), dtype=np.uint8))
                mel.add(clip_id, rng.standard_normal((mel_frames, 80)).astype(np.float32))
            track = np.zeros((n, len(TRACK_COLUMNS)), np.float32)
            track[:, SEGMENT] = -1
            for k, (start, stop) in enumerate(segments):
                track[start:stop, SEGMENT] = k
            tracks.add(clip_id, track)
    return root
