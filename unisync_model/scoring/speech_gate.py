"""Speech gating of every scorer: silero-vad (extract/speech_activity.py) marks each 25 fps frame, an
audio window is speech when at least `min_window_share` of its frames are, and a pair whose audio window
is not speech neither votes for an offset nor enters the confidence (model/lse.pair_mask), so music,
silence and pauses cannot pull the answer toward "no shift" or dilute a clear one. A segment with
speech on fewer than `no_speech_below` of its frames gets the reason "no speech": silero-vad's false
alarms on song cover at most 12 % of the three music clips' frames, every speech clip of the dev set
(real, muxed and generated but one) at least 42 % (docs/scorers.md).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from unisync_model.settings import SpeechSettings

NO_SPEECH = "no speech"


@lru_cache(maxsize=1)
def _detector():
    from unisync_model.extract.speech_activity import SpeechActivity
    return SpeechActivity()  # one ONNX session per process (each --jobs worker makes its own)


def frame_speech(samples: np.ndarray, frames: int, settings: SpeechSettings) -> np.ndarray | None:
    """Which of the first `frames` video frames hold speech; None when gating is off."""
    if not settings.gate or frames <= 0 or samples is None:
        return None
    return _detector().frame_probabilities(samples, frames) >= settings.probability


def window_speech(speech: np.ndarray, first_frame: int, windows: int, window: int,
                  settings: SpeechSettings) -> np.ndarray:
    """Per window k (frames first_frame + k … + window − 1): whether its audio is speech. Frames past
    the detector's end count as no speech."""
    frames = np.zeros(first_frame + windows + window - 1, bool)
    known = speech[:len(frames)]
    frames[:len(known)] = known
    share = np.lib.stride_tricks.sliding_window_view(frames[first_frame:], window).mean(axis=1)[:windows]
    return share >= settings.min_window_share


def no_speech_reason(spoken_frames: int, frames: int, settings: SpeechSettings) -> str | None:
    share = spoken_frames / frames if frames else 0.0
    if share < settings.no_speech_below:
        return (f"{NO_SPEECH} (silero-vad hears speech on {100 * share:.0f} % of the segment's frames, "
                f"under {100 * settings.no_speech_below:.0f} %)")
    return None
