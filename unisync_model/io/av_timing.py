"""Where a video frame sits in the audio features.

Video frame i shows the interval [i/25, (i+1)/25) s. A Mel frame j (hop 200 at 16 kHz, centred
STFT) is centred on j/80 s, so the Mel frames of video frame i are those centred inside its
interval: j from ceil(3.2 i). A 5-frame window (0.2 s) starting at frame s holds the 16 Mel frames
from ceil(3.2 s); with 50 Hz HuBERT frames it holds the 10 frames from 2 s.
"""
from __future__ import annotations

from typing import Callable

from unisync_model import representations
from unisync_model.settings import FPS, SAMPLE_RATE, WINDOW_FRAMES

SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640: the 16 kHz samples of one video frame
MEL_RATE = representations.get("mel").rate  # 80 Hz: SAMPLE_RATE / MEL_HOP
MEL_WINDOW = WINDOW_FRAMES * MEL_RATE // FPS  # 16
HUBERT_RATE = representations.get("hubert").rate  # 50 Hz
HUBERT_WINDOW = WINDOW_FRAMES * HUBERT_RATE // FPS  # 10


def mel_start(frame: int) -> int:
    """First Mel frame of video frame `frame`: ceil(frame * 80 / 25)."""
    return feature_start(frame, MEL_RATE)


def hubert_start(frame: int) -> int:
    return feature_start(frame, HUBERT_RATE)


def feature_start(frame: int, rate: int) -> int:
    """First feature frame (at `rate` Hz, frame j centred on j / rate s) of video frame `frame`:
    ceil(frame × rate / 25), in integers (mel_start and hubert_start for 80 and 50 Hz)."""
    return -(-frame * rate // FPS)


def audio_features(name: str) -> tuple[Callable[[int], int], int, int]:
    """(first feature frame of a video frame, feature frames per window, rate in Hz) of an audio
    representation, from its rate in the registry."""
    rate = representations.get(name).rate
    return (lambda frame: feature_start(frame, rate)), WINDOW_FRAMES * rate // FPS, rate


def window_count(video_frames: int, audio_frames: int, audio: str) -> int:
    """How many 5-frame windows start in a clip such that both video and audio cover them.

    Window s needs start_of(s) + length <= audio_frames, i.e. s * rate / 25 <= audio_frames - length
    (both start functions round a value that is integral at the bound)."""
    _, length, rate = audio_features(audio)
    by_audio = (audio_frames - length) * FPS // rate + 1 if audio_frames >= length else 0
    return max(0, min(video_frames - WINDOW_FRAMES + 1, by_audio))
