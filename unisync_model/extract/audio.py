"""audio stage: every clip's audio as 16 kHz mono int16 PCM, from the clip's `audio_path` (the video
itself, or a separate file such as CN-CVS's .wav). Audio and video may differ in length: all of the
audio is kept, and windows are drawn only where both exist (data.clip_table)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.extract.stage import run_stage
from unisync_model.media import MediaError, audio_samples
from unisync_model.settings import SAMPLE_RATE


def extract_audio(clips: pd.DataFrame, out: str | Path) -> tuple[int, int]:
    paths = dict(zip(clips["clip_id"], clips["audio_path"]))

    def process(clip_id: str) -> tuple[np.ndarray, dict]:
        samples = audio_samples(paths[clip_id])
        pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        return pcm, {"seconds": len(pcm) / SAMPLE_RATE}

    return run_stage(paths, process, out, "audio", {"backend": "ffmpeg", "sample_rate": SAMPLE_RATE},
                     skip_on=(MediaError,))
