"""The offset protocol on a split's face segments, for choosing the epoch kept as model.pt.

A validation split of a few clips gives the binary protocol (val_pairs random pairs, p thresholded
at 0.5) a noisy accuracy, and one that stays at chance while p is uncalibrated (docs/shift_study.md);
the offset protocol scores every window of every validation segment at shifts −15…+15 (K = 5,
correct within ±1 frame, the mean over clips of each clip's share of correct windows): it only ranks
shifts, and it is the measure the papers report on LRS2. It lives here, not in
evaluation/, because the trainer computes it every epoch and training may not import evaluation
(pyproject.toml [tool.importlinter]); evaluation/protocols.evaluate_offset builds on the same
`segment_embeddings` and model/lse.py functions, so both give the same number.
"""
from __future__ import annotations

import pandas as pd
import torch

from unisync_model.io.shards import ShardReader
from unisync_model.model.embed import embed_windows, window_span
from unisync_model.model.lse import TOLERANCE, VSHIFT, offset_accuracy, offset_counts, shift_scores

VALIDATION_CONTEXT = 5  # K of the offset protocol the trainer's val_offset_accuracy uses


def segment_embeddings(model, visual: ShardReader, audio: ShardReader, clip_id: str, first_frame: int, windows: int,
                       audio_feature: str, batch_size: int, audio_shift: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The embeddings of a segment's windows (model.embed), its rows read from the shards once.
    `audio_shift` (clip_table's, from the resync stage): the audio of the mouth at frame s is read at
    frame s + audio_shift, as training reads it (embed_windows places the audio windows relative to
    the frame it is given, the visual ones relative to the rows)."""
    (v0, v1), _ = window_span(first_frame, windows, audio_feature)
    _, (a0, a1) = window_span(first_frame + audio_shift, windows, audio_feature)
    return embed_windows(model, visual.read(clip_id, v0, v1), audio.read(clip_id, a0, a1), first_frame + audio_shift,
                         windows, audio_feature, batch_size)


def split_offset_accuracy(model, clips: pd.DataFrame, visual_readers: dict[str, ShardReader],
                          audio_readers: dict[str, ShardReader], audio_feature: str, batch_size: int,
                          k: int = VALIDATION_CONTEXT, vshift: int = VSHIFT, tolerance: int = TOLERANCE,
                          rank: int = 0, world: int = 1) -> tuple[float, int]:
    """The offset protocol over the face segments of `clips` (clip_table rows): (the sum over clips
    of each clip's share of correct windows, the number of clips). The accuracy is the first divided
    by the second (offset_accuracy's "accuracy"); with several processes each takes every world-th
    clip (`rank`), and the sums over processes give the accuracy over all clips."""
    ids = sorted(clips["clip_id"].unique())
    mine = set(ids[rank::world])
    counts = []
    was_training = model.training
    model.eval()
    try:
        for row in clips[clips["clip_id"].isin(mine)].itertuples(index=False):
            v, a = segment_embeddings(model, visual_readers[row.shard], audio_readers[row.shard], row.clip_id,
                                      int(row.first_frame), int(row.windows), audio_feature, batch_size,
                                      int(getattr(row, "audio_shift", 0)))
            counts.append((row.clip_id, offset_counts(shift_scores(v, a, vshift), k, vshift, tolerance)))
    finally:
        model.train(was_training)
    if not any(c.windows for _, c in counts):
        return 0.0, 0
    summary = offset_accuracy(counts)
    return summary["accuracy"] * summary["clips"], summary["clips"]
