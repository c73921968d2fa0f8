"""Corpus recipes: each lists the clips of a corpus as a table with the columns of `CLIP_COLUMNS`.

A recipe is a function `list_clips(root, **options) -> pandas.DataFrame`, its options coming from
config.yaml's `corpus.options`; the manifest stage adds the shard, the probe and the status columns.
Add a corpus by adding a module and registering it in `RECIPES`.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from unisync_model.corpora import cncvs, folder, lrs2

# audio_path is the file the audio comes from: the video itself, or a separate .wav (CN-CVS).
CLIP_COLUMNS = ["clip_id", "speaker", "split", "path", "audio_path"]

RECIPES: dict[str, Callable[..., pd.DataFrame]] = {
    "lrs2": lrs2.list_clips,
    "cncvs": cncvs.list_clips,
    "folder": folder.list_clips,
}
