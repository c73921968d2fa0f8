"""audio stage: every clip's audio as 16 kHz mono int16 PCM, from the clip's `audio_path` (the video
itself, or a separate file such as CN-CVS's .wav). Audio and video may differ in length: all of the
audio is kept, and windows are drawn only where both exist (training.windows.clip_table).

The stream is chosen as `unisync score` chooses it (media.speech_audio): the default one, or, when that
is silent, the first other that is not, so a video whose speech is on its second audio stream does not
train on silence. Each clip's info records the stream N (ffmpeg's `0:a:N`) and, when more than one was
decoded, the ones tried."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.extract.stage import run_stage
from unisync_model.io.media import MediaError, speech_audio
from unisync_model.io.pcm import float_to_pcm16
from unisync_model.settings import SAMPLE_RATE, AudioSettings, to_dict


def extract_audio(clips: pd.DataFrame, out: str | Path, settings: AudioSettings | None = None) -> tuple[int, int]:
    settings = settings or AudioSettings()
    paths = dict(zip(clips["clip_id"], clips["audio_path"]))

    def process(clip_id: str) -> tuple[np.ndarray, dict]:
        audio = speech_audio(paths[clip_id], settings.stream, settings.silence_dbfs)
        pcm = float_to_pcm16(audio.samples)
        info = {"seconds": len(pcm) / SAMPLE_RATE, "stream": audio.stream}
        if len(audio.tried) > 1:
            info["tried"] = list(audio.tried)
        return pcm, info

    return run_stage(paths, process, out, "audio",
                     {"backend": "ffmpeg", "sample_rate": SAMPLE_RATE, "settings": to_dict(settings)},
                     skip_on=(MediaError,))
