"""How well a face's mouth follows the sound, without a learned model: the training-free scorer's signals
(scoring/scorers/training_free.py uses these functions; the recipe and its measurements: docs/scorers.md),
kept below scoring so that the tracks stage can choose the speaking face by sync (tracks.speaker: sync)
with the measure `unisync score` chooses it by.

Visual signal: how open the mouth is per frame (dlib's 68 points); audio signal: the log energy of the
speech band per video frame; both band-passed to the syllable rate and cut into sliding windows, each
centred and scaled to unit length, so that the Euclidean distance of two windows is sqrt(2 − 2 r).
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.settings import FPS, SAMPLE_RATE, TrainingFreeSettings

VSHIFT = 15  # shifts −15…+15 frames: the scorers' default search (model/lse.VSHIFT)


class NoMouth(ValueError):
    """No landmarks on a face track's frames: its mouth cannot be measured."""


def frame_dbfs(samples: np.ndarray, frames: int) -> np.ndarray:
    """RMS level (dBFS) of each video frame's 640 samples, for the first `frames` frames."""
    x = np.asarray(samples, np.float64)[:frames * SAMPLES_PER_FRAME].reshape(frames, SAMPLES_PER_FRAME)
    return 20 * np.log10(np.sqrt((x ** 2).mean(axis=1)) + 1e-10)


def zero_phase(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """scipy's sosfiltfilt, with the edge padding cut down for short signals."""
    default = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    return scipy.signal.sosfiltfilt(sos, x, padlen=min(default, len(x) - 1))


def unit_windows(x: np.ndarray, window: int) -> np.ndarray:
    """Sliding windows (hop 1) of a signal, each centred and scaled to unit length (zero if flat):
    (len(x) − window + 1) × window."""
    w = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), window)
    w = w - w.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.where(norm > 1e-9, w / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def mouth_signal(landmarks: np.ndarray) -> np.ndarray:
    """How open the mouth is per frame: z(inner-lip gap) + z(outer-lip height) + z(jaw drop), each
    over the eye distance (scale-free), z-scored over the frames given. NaN frames are interpolated;
    all-NaN raises NoMouth."""
    from unisync_model.extract.landmarks import LEFT_EYE, RIGHT_EYE, mouth_opening

    points = np.asarray(landmarks, np.float64)[..., :2]
    eyes = np.linalg.norm(points[:, RIGHT_EYE].mean(axis=1) - points[:, LEFT_EYE].mean(axis=1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        measures = [mouth_opening(points),
                    np.linalg.norm(points[:, 51] - points[:, 57], axis=-1) / eyes,  # outer lips, upper to lower
                    np.linalg.norm(points[:, 8] - points[:, 33], axis=-1) / eyes]  # chin to nose
    total = np.zeros(len(points))
    for m in measures:
        m = np.where(np.isfinite(m), m, np.nan)
        good = np.isfinite(m)
        if not good.any():
            raise NoMouth("no landmarks on the face")
        m = np.interp(np.arange(len(m)), np.flatnonzero(good), m[good])
        total += (m - m.mean()) / (m.std() + 1e-9)
    return total


def speech_envelope(samples: np.ndarray, frames: int, band: tuple[float, float]) -> np.ndarray:
    """log RMS of the speech band in each of the first `frames` video frames (640 samples each)."""
    sos = scipy.signal.butter(4, band, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    x = np.asarray(samples, np.float64)[:frames * SAMPLES_PER_FRAME]
    filtered = zero_phase(x, sos) if len(x) > 30 else x
    rms = np.sqrt((filtered.reshape(frames, SAMPLES_PER_FRAME) ** 2).mean(axis=1))
    return np.log(rms + 1e-4)


def modulation_filter(settings: TrainingFreeSettings) -> np.ndarray:
    """The syllable-rate band-pass (second order, zero phase when applied) both signals go through."""
    return scipy.signal.butter(2, settings.modulation_band, btype="bandpass", fs=FPS, output="sos")


def segment_windows(landmarks: np.ndarray, envelope: np.ndarray, loud: np.ndarray, window: int, lead: int,
                    modulation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One face segment's visual and audio windows (windows × window, unit length), from its frames'
    landmarks, speech envelope and loudness (frame ≥ the silence level): the mouth compared with the
    sound `lead` frames later (the mouth moves first); audio windows with no loud frame are zero."""
    mouth = mouth_signal(landmarks)
    lead = min(lead, len(mouth) - 1)
    mouth = np.concatenate([np.repeat(mouth[:1], lead), mouth[:len(mouth) - lead]])
    visual = unit_windows(zero_phase(mouth, modulation), window)
    audio = unit_windows(zero_phase(envelope, modulation), window)
    heard = np.lib.stride_tricks.sliding_window_view(loud, window).any(axis=1)
    audio[~heard] = 0.0
    return visual, audio


def shift_curve(visual: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """The mean distance of the visual windows to the audio windows at each shift (index j: audio window
    s + j − vshift, the audio zero beyond the segment): for these unit windows, model/lse.syncnet_lse's
    curve (its distance ‖v − a‖ is sqrt(‖v‖² + ‖a‖² − 2 v·a)), which extraction may not import."""
    v, a = np.asarray(visual, np.float64), np.asarray(audio, np.float64)
    padded = np.pad(a, ((vshift, vshift), (0, 0)))
    rows = np.arange(len(v))[:, None] + np.arange(2 * vshift + 1)[None, :]
    dot = np.einsum("sd,sjd->sj", v, padded[rows])
    squared = (v ** 2).sum(axis=1)[:, None] + (padded ** 2).sum(axis=1)[rows] - 2 * dot
    return np.sqrt(np.maximum(squared, 0.0)).mean(axis=0)


def sync_confidence(landmarks: np.ndarray, samples: np.ndarray, start: int, stop: int,
                    settings: TrainingFreeSettings | None = None) -> float | None:
    """How well the mouth of the face on frames [start, stop) follows the sound: the training-free
    scorer's confidence (median − minimum of the distance curve over ±VSHIFT frames), without its
    speech gate; None when the segment has no window with audio or no landmarks."""
    settings = settings or TrainingFreeSettings()
    frames = min(len(landmarks), len(samples) // SAMPLES_PER_FRAME)
    stop = min(stop, frames)
    if stop - start < settings.window:
        return None
    envelope = speech_envelope(samples, frames, settings.speech_band)[start:stop]
    loud = frame_dbfs(samples, frames)[start:stop] >= settings.silence_dbfs
    try:
        visual, audio = segment_windows(landmarks[start:stop], envelope, loud, settings.window, settings.lead_frames,
                                        modulation_filter(settings))
    except NoMouth:
        return None
    curve = shift_curve(visual, audio)
    return float(np.median(curve) - curve.min())
