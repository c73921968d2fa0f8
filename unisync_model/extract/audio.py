"""audio stage: every clip's audio track as 16 kHz mono int16 PCM."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unisync_model.extract.stage import run_stage
from unisync_model.media import MediaError, audio_samples
from unisync_model.settings import SAMPLE_RATE


def extract_audio(clips: pd.DataFrame, out: str | Path) -> tuple[int, int]:
    paths = dict(zip(clips["clip_id"], clips["path"]))

    def process(clip_id: str) -> np.ndarray:
        samples = audio_samples(paths[clip_id])
        return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)

    return run_stage(paths, process, out, "audio", {"backend": "ffmpeg", "sample_rate": SAMPLE_RATE},
                     skip_on=(MediaError,))
