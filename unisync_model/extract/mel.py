"""mel stage: 80-bin log-Mel spectrogram at 80 Hz (hop 200 at 16 kHz), computed as Wav2Lip's audio.py
computes it (its expert's input, and the paper's Mel):

pre-emphasis (lfilter [1, -0.97]) → librosa.stft(n_fft 800, hop 200, win 800, Hann, centred) → |·| →
Slaney Mel filters (fmin 55, fmax 7600) → 20 log10(max(1e-5, ·)) - 20 dB → 8 (S + 100) / 100 - 4,
clipped to [-4, 4].

Padding and framing are Wav2Lip's: its pinned librosa (0.7) centres every frame by reflecting n_fft // 2
samples at both ends, so frame j is centred on sample 200 j and a clip of n samples has 1 + n // 200
frames. librosa ≥ 0.10 pads with zeros by default, which changes the first and last two frames, so the
reflection is asked for explicitly (and the STFT kept in complex64, librosa 0.7's default).
tests/test_mel.py checks this against the formula written out with numpy.

Windows are indexed by io/av_timing.py: a 5-frame window from video frame s reads the 16 Mel frames
from ceil(3.2 s). Wav2Lip's expert reads them from int(3.2 s): the same for s a multiple of 5, one
Mel frame (12.5 ms) earlier otherwise.
"""
from __future__ import annotations

import functools
from pathlib import Path

import librosa
import numpy as np
import scipy.signal

from unisync_model.extract.stage import run_stage
from unisync_model.io.pcm import pcm16_to_float
from unisync_model.io.shards import ShardReader
from unisync_model.settings import MEL_HOP, SAMPLE_RATE, MelSettings, to_dict


@functools.lru_cache(maxsize=4)
def mel_filters(settings: MelSettings) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised Mel filter bank (librosa's default, as Wav2Lip's)."""
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=settings.n_fft, n_mels=settings.n_mels,
                               fmin=settings.fmin, fmax=settings.fmax)


def log_mel(samples: np.ndarray, settings: MelSettings) -> np.ndarray:
    """(T_mel, n_mels) float32, T_mel = 1 + len(samples) // 200; frame j is centred on sample j * 200."""
    if len(samples) == 0:
        return np.zeros((0, settings.n_mels), np.float32)
    y = scipy.signal.lfilter([1.0, -settings.preemphasis], [1.0], samples)
    spectrum = librosa.stft(y=y, n_fft=settings.n_fft, hop_length=MEL_HOP, win_length=settings.win_length,
                            window="hann", center=True, pad_mode="reflect", dtype=np.complex64)
    mel = mel_filters(settings) @ np.abs(spectrum)
    db = 20.0 * np.log10(np.maximum(10.0 ** (settings.min_level_db / 20.0), mel)) - settings.ref_level_db
    scaled = 8.0 * (db - settings.min_level_db) / -settings.min_level_db - 4.0
    return np.clip(scaled, -4.0, 4.0).T.astype(np.float32)


def extract_mel(audio_shard: str | Path, out: str | Path, settings: MelSettings) -> tuple[int, int]:
    audio = ShardReader(audio_shard)

    def process(clip_id: str) -> np.ndarray:
        return log_mel(pcm16_to_float(audio.read(clip_id)), settings)

    return run_stage(audio.clip_ids, process, out, "mel",
                     {"backend": "librosa", "librosa_version": librosa.__version__, "settings": to_dict(settings),
                      "stft": "wav2lip: centred, reflect-padded by n_fft // 2, complex64"},
                     upstream_skipped=audio.skipped)


def clip_computer(settings: MelSettings, device=None):
    """One clip's log-Mel frames from its samples (the registry's per-clip function)."""
    return lambda clip: log_mel(clip.samples, settings)
