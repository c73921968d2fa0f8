"""Shards of realistic shape for the training benchmarks, written with the library's ShardWriter.

The loader and the training step only see array shapes and file layout, not what the pixels show,
so random data of the stages' exact shapes and dtypes measures them faithfully: per shard, clips of
LRS2-like lengths (40–160 frames at 25 fps), an rgb shard (T × 48 × 96 × 3 uint8), a mel shard
(ceil(3.2 T) + 1 frames × 80 float32, what extract/mel.py gives for T frames of audio), a tracks
shard (one face segment over the whole clip) and a manifest naming a speaker and split per clip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.corpora.manifest import STATUS_OK, shard_names, write_manifest
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.io.shards import ShardWriter
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
from unisync_model import representations
from unisync_model.settings import FPS

MIN_FRAMES, MAX_FRAMES = 40, 160


def write_synthetic_corpus(root: Path, shards: int = 2, clips_per_shard: int = 100, speakers: int = 20,
                           seed: int = 0) -> tuple[Path, Path, list[str]]:
    """(manifest path, shards dir, shard names) of a corpus of random rgb / mel / tracks shards."""
    rng = np.random.default_rng(seed)
    shards_dir = root / "shards"
    rows = []
    names = shard_names(shards)
    for shard in names:
        with (ShardWriter(shards_dir / "rgb" / f"{shard}.h5", "rgb") as rgb,
              ShardWriter(shards_dir / "mel" / f"{shard}.h5", "mel") as mel,
              ShardWriter(shards_dir / "tracks" / f"{shard}.h5", "tracks") as tracks):
            for k in range(clips_per_shard):
                clip_id = f"s{shard}_c{k:04d}"
                frames = int(rng.integers(MIN_FRAMES, MAX_FRAMES + 1))
                rgb.add(clip_id, rng.integers(0, 256, (frames, *representations.get("rgb").frame_shape), dtype=np.uint8))
                mel_frames = -(-frames * MEL_RATE // FPS) + 1
                mel.add(clip_id, rng.uniform(-4, 4, (mel_frames, 80)).astype(np.float32))
                track = np.zeros((frames, len(TRACK_COLUMNS)), np.float32)
                track[:, SEGMENT] = 0
                tracks.add(clip_id, track)
                rows.append({"clip_id": clip_id, "speaker": f"spk{rng.integers(speakers):02d}", "split": "train",
                             "shard": shard, "status": STATUS_OK, "path": f"{clip_id}.mp4"})
    clips = pd.DataFrame(rows)
    clips.loc[clips.index % 10 == 0, "split"] = "val"
    manifest = root / "clips.parquet"
    write_manifest(clips, manifest)
    return manifest, shards_dir, names
