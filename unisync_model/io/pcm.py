"""16-bit PCM and float audio: how samples are stored (int16, in the audio shards) and computed on
(float32 in [-1, 1])."""
from __future__ import annotations

import numpy as np


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1): divided by 32768, as ffmpeg and librosa read s16."""
    return np.asarray(pcm).astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] as int16: clipped to [-1, 1], times 32767, rounded (so full scale is
    ±32767 and never wraps around)."""
    return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
