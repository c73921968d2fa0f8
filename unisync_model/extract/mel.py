"""mel stage: 80-bin log-Mel spectrogram at 80 Hz (hop 200 at 16 kHz), with the normalisation of
Wav2Lip's expert (pre-emphasis, amplitude in dB, scaled to [-4, 4])."""
from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import scipy.signal

from unisync_model.extract.stage import run_stage
from unisync_model.io.pcm import pcm16_to_float
from unisync_model.io.shards import ShardReader
from unisync_model.settings import MEL_HOP, SAMPLE_RATE, MelSettings, to_dict


def log_mel(samples: np.ndarray, settings: MelSettings) -> np.ndarray:
    """(T_mel, n_mels) float32; frame j is centred on sample j * 200."""
    y = scipy.signal.lfilter([1.0, -settings.preemphasis], [1.0], samples.astype(np.float32))
    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=settings.n_fft, hop_length=MEL_HOP, win_length=settings.win_length,
        n_mels=settings.n_mels, fmin=settings.fmin, fmax=settings.fmax, power=1.0, center=True)
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - settings.ref_level_db
    scaled = 8.0 * (db - settings.min_level_db) / -settings.min_level_db - 4.0
    return np.clip(scaled, -4.0, 4.0).T.astype(np.float32)


def extract_mel(audio_shard: str | Path, out: str | Path, settings: MelSettings) -> tuple[int, int]:
    audio = ShardReader(audio_shard)

    def process(clip_id: str) -> np.ndarray:
        return log_mel(pcm16_to_float(audio.read(clip_id)), settings)

    return run_stage(audio.clip_ids, process, out, "mel",
                     {"backend": "librosa", "librosa_version": librosa.__version__, "settings": to_dict(settings)},
                     upstream_skipped=audio.skipped)


def clip_computer(settings: MelSettings, device=None):
    """One clip's log-Mel frames from its samples (the registry's per-clip function)."""
    return lambda clip: log_mel(clip.samples, settings)
