"""Embedding a face segment's windows: every 5-frame window starting at first_frame … first_frame +
windows − 1 and its audio window, through a UniSync model, in batches. The evaluation protocols read
the segment from shards, the unisync scorer holds it in memory; both call this with the arrays."""
from __future__ import annotations

import numpy as np
import torch

from unisync_model.io.av_timing import audio_features
from unisync_model.settings import WINDOW_FRAMES


def window_span(first_frame: int, windows: int, audio_feature: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The visual rows [v0, v1) and audio feature rows [a0, a1) that the windows cover."""
    audio_start, audio_length, _ = audio_features(audio_feature)
    return ((first_frame, first_frame + windows + WINDOW_FRAMES - 1),
            (audio_start(first_frame), audio_start(first_frame + windows - 1) + audio_length))


@torch.no_grad()
def embed_windows(model, frames: np.ndarray, features: np.ndarray, first_frame: int, windows: int,
                  audio_feature: str, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Visual and audio embeddings (windows × D each, on the CPU). `frames` and `features` hold the
    rows of window_span (the visual rows from first_frame on, the audio rows from its audio start on)."""
    device = next(model.parameters()).device
    audio_start, audio_length, _ = audio_features(audio_feature)
    features = np.asarray(features, np.float32)
    a0 = audio_start(first_frame)
    v_out, a_out = [], []
    for b in range(0, windows, batch_size):
        starts = range(b, min(windows, b + batch_size))
        v = np.stack([frames[s:s + WINDOW_FRAMES] for s in starts])
        a = np.stack([features[audio_start(first_frame + s) - a0:][:audio_length] for s in starts])
        v_out.append(model.embed_visual(torch.from_numpy(v).to(device)).float().cpu())
        a_out.append(model.embed_audio(torch.from_numpy(a).to(device)).float().cpu())
    return torch.cat(v_out), torch.cat(a_out)
