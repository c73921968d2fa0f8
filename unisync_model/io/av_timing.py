"""Where a video frame sits in the audio features.

Video frame i shows the interval [i/25, (i+1)/25) s. A Mel frame j (hop 200 at 16 kHz, centred
STFT) is centred on j/80 s, so the Mel frames of video frame i are those centred inside its
interval: j from ceil(3.2 i). A 5-frame window (0.2 s) starting at frame s holds the 16 Mel frames
from ceil(3.2 s); with 50 Hz HuBERT frames it holds the 10 frames from 2 s.
"""
from __future__ import annotations

from unisync_model.settings import FPS, MEL_HOP, SAMPLE_RATE, WINDOW_FRAMES

MEL_RATE = SAMPLE_RATE // MEL_HOP  # 80 Hz
MEL_WINDOW = WINDOW_FRAMES * MEL_RATE // FPS  # 16
HUBERT_RATE = 50
HUBERT_WINDOW = WINDOW_FRAMES * HUBERT_RATE // FPS  # 10


def mel_start(frame: int) -> int:
    """First Mel frame of video frame `frame`: ceil(frame * 80 / 25), in integers."""
    return -(-frame * MEL_RATE // FPS)


def hubert_start(frame: int) -> int:
    return frame * HUBERT_RATE // FPS


AUDIO_FEATURES = {
    # name: (first feature frame of a video frame, feature frames per window, feature rate in Hz)
    "mel": (mel_start, MEL_WINDOW, MEL_RATE),
    "hubert": (hubert_start, HUBERT_WINDOW, HUBERT_RATE),
}


def window_count(video_frames: int, audio_frames: int, audio: str) -> int:
    """How many 5-frame windows start in a clip such that both video and audio cover them.

    Window s needs start_of(s) + length <= audio_frames, i.e. s * rate / 25 <= audio_frames - length
    (both start functions round a value that is integral at the bound)."""
    _, length, rate = AUDIO_FEATURES[audio]
    by_audio = (audio_frames - length) * FPS // rate + 1 if audio_frames >= length else 0
    return max(0, min(video_frames - WINDOW_FRAMES + 1, by_audio))
