"""A corpus a tiny UniSync can learn in seconds: each video frame of a clip carries one of CLASSES
random symbols, shown by the visual frame and heard in the audio features of the same frame.

- visual `tdmm`: one-hot symbol in the first CLASSES of the 10 expression coefficients (the only
  ones the model reads), the rest of the 62 parameters random;
- visual `rgb`: a bright vertical stripe (one of CLASSES across the crop's width) on a dark crop;
- audio `mel`: the symbol's band of 80 // CLASSES Mel bins raised, for the Mel frames of the video
  frame (Mel frame j belongs to video frame floor(j · 25 / 80), io/av_timing.py).

Both carry small noise. A synced window's 5 symbols are its audio window's 5 symbols; a window shifted
by 5 frames or more has 5 independent ones, so matching them tells synced from unsynced pairs
(a negative shares 3 or more of 5 symbols with probability ~2 %). `shuffle_audio` gives every
clip another clip's audio (a derangement): the same frames and sounds with no sync left to learn,
the negative control.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.corpora.manifest import write_manifest
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.io.shards import ShardWriter
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
from unisync_model.model.unisync import TDMM_EXPRESSION
from unisync_model.settings import FPS

CLASSES = 10
RGB_CROP = (24, 48, 3)  # a smaller crop than the default: quicker


def symbols(rng: np.random.Generator, frames: int) -> np.ndarray:
    return rng.integers(0, CLASSES, frames)


def visual_frames(kind: str, code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(code)
    if kind == "tdmm":
        frames = rng.normal(0, 1, (n, 62)).astype(np.float32)
        frames[:, TDMM_EXPRESSION] = rng.normal(0, 0.05, (n, TDMM_EXPRESSION.stop - TDMM_EXPRESSION.start))
        frames[np.arange(n), TDMM_EXPRESSION.start + code] += 1.0
        return frames
    if kind == "rgb":
        h, w, _ = RGB_CROP
        frames = rng.integers(0, 40, (n, *RGB_CROP), dtype=np.uint8)
        stripe = w // CLASSES
        for t, c in enumerate(code):
            frames[t, :, c * stripe:(c + 1) * stripe] += 200
        return frames
    raise ValueError(f"no learnable frames for {kind!r}")


def mel_frames(code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The Mel frames of a clip of len(code) video frames (one more than they cover, as in extraction)."""
    n = math.ceil(len(code) * MEL_RATE / FPS) + 1
    frame_of = np.minimum(np.arange(n) * FPS // MEL_RATE, len(code) - 1)
    band = 80 // CLASSES
    mel = rng.normal(0, 0.1, (n, 80)).astype(np.float32)
    for j, t in enumerate(frame_of):
        mel[j, code[t] * band:(code[t] + 1) * band] += 1.0
    return mel


def write_learnable_corpus(root: str | Path, clips: list[tuple[str, str, str]], frames: int | dict[str, int],
                           visual: str | tuple[str, ...] = "tdmm", seed: int = 0, shuffle_audio: bool = False) -> Path:
    """A manifest (root/clips.parquet) and visual / mel / tracks shards (root/shards/<stage>/000.h5),
    one face segment per clip. `clips`: (clip id, speaker, split); `frames`: per clip or for all;
    `visual`: one visual representation or several (the same symbols in each)."""
    visuals = (visual,) if isinstance(visual, str) else tuple(visual)
    root = Path(root)
    rng = np.random.default_rng(seed)
    lengths = {c: frames[c] if isinstance(frames, dict) else frames for c, _, _ in clips}
    codes = {c: symbols(rng, lengths[c]) for c, _, _ in clips}
    ids = [c for c, _, _ in clips]
    heard = {c: codes[ids[(k + 1) % len(ids)] if shuffle_audio else c] for k, c in enumerate(ids)}
    shards = root / "shards"
    with contextlib.ExitStack() as stack:
        vis = {v: stack.enter_context(ShardWriter(shards / v / "000.h5", v)) for v in visuals}
        mel = stack.enter_context(ShardWriter(shards / "mel" / "000.h5", "mel"))
        tracks = stack.enter_context(ShardWriter(shards / "tracks" / "000.h5", "tracks"))
        for clip_id in ids:
            n = lengths[clip_id]
            for v, writer in vis.items():
                writer.add(clip_id, visual_frames(v, codes[clip_id], rng))
            audio = heard[clip_id]
            if len(audio) < n:  # another clip's audio, cut or repeated to this clip's length
                audio = np.resize(audio, n)
            mel.add(clip_id, mel_frames(audio[:n], rng))
            tracks.add(clip_id, one_segment_track(n))
    write_one_shard_manifest(clips, root / "clips.parquet")
    return root


def one_segment_track(frames: int) -> np.ndarray:
    """A tracks-stage array whose face is one segment over every frame (boxes unused)."""
    track = np.zeros((frames, len(TRACK_COLUMNS)), np.float32)
    track[:, SEGMENT] = 0
    return track


def write_one_shard_manifest(clips: list[tuple[str, str, str]], path: Path) -> None:
    """clips.parquet for (clip id, speaker, split) rows, every clip ok in shard 000."""
    write_manifest(pd.DataFrame([{"clip_id": c, "speaker": s, "split": split, "path": f"{c}.mp4",
                                  "audio_path": f"{c}.mp4", "shard": "000", "status": "ok"}
                                 for c, s, split in clips]), path)
