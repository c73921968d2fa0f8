"""The mel stage computes Wav2Lip's Mel (audio.py: melspectrogram with hparams n_fft 800, hop 200, win
800, fmin 55, fmax 7600, pre-emphasis 0.97, ref 20 dB, min -100 dB, symmetric ±4), checked against
its steps written out here with numpy: the signal reflect-padded by n_fft // 2 at both ends (librosa
0.7's centred STFT, which Wav2Lip pins), Hann frames every 200 samples, |rfft|, Slaney Mel filters,
dB, normalisation. Zero padding (librosa ≥ 0.10's default) differs at the edges, which the test sees."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from unisync_model.extract.mel import log_mel
from unisync_model.settings import MelSettings

N_FFT, HOP, WIN, SR = 800, 200, 800, 16000


def wav2lip_mel(wav: np.ndarray, padding: str = "reflect") -> np.ndarray:
    """(frames, 80): Wav2Lip's melspectrogram(wav).T from its documented steps."""
    emphasised = scipy.signal.lfilter([1, -0.97], [1], wav)
    padded = np.pad(emphasised, N_FFT // 2, mode=padding)
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.stack([padded[i * HOP:i * HOP + N_FFT] for i in range(count)])
    window = scipy.signal.get_window("hann", WIN, fftbins=True)  # periodic Hann, as librosa's
    magnitude = np.abs(np.fft.rfft(frames * window, n=N_FFT, axis=1))  # frames × 401
    filters = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=80, fmin=55, fmax=7600)  # Slaney, as librosa 0.7's
    db = 20 * np.log10(np.maximum(1e-5, magnitude @ filters.T)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4)


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated signal loud at both ends (so the edge frames matter), float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    voiced = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((140, 280, 700, 1900), 1))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (0.3 * envelope * voiced + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("samples", [16000, 16123, 3 * 640 + 37])
def test_mel_is_wav2lips(samples):
    wav = speech_like(samples / SR)
    ours, theirs = log_mel(wav, MelSettings()), wav2lip_mel(wav)
    assert ours.shape == theirs.shape == (1 + samples // HOP, 80)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)  # on the ±4 scale: 1e-5 is 1.25e-4 dB


def test_edge_frames_are_reflect_padded_not_zero_padded():
    wav = speech_like(1.0)
    ours, zero_padded = log_mel(wav, MelSettings()), wav2lip_mel(wav, padding="constant")
    edges = np.abs(ours - zero_padded).max(axis=1)
    assert edges[0] > 0.05 and edges[-1] > 0.05  # the first and last frames see the padding
    np.testing.assert_allclose(ours[2:-2], zero_padded[2:-2], atol=1e-5, rtol=0)  # the others do not


def test_frame_j_is_centred_on_sample_200_j():
    wav = np.zeros(SR, np.float32)
    wav[8000 - 40:8000 + 40] = 0.5 * np.hanning(80)  # a click at 0.5 s
    loudness = log_mel(wav, MelSettings()).mean(axis=1)
    assert int(np.argmax(loudness)) == 8000 // HOP


def test_empty_audio_has_no_frames():
    assert log_mel(np.zeros(0, np.float32), MelSettings()).shape == (0, 80)
