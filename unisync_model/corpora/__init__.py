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
# Recipes whose clips are known to be in sync (LRS2: within about a frame; the demo corpus uses its
# layout): the resync stage's `enabled: auto` leaves them as they are and resyncs the others.
IN_SYNC = frozenset({"lrs2"})


def resync_enabled(setting: bool | str, recipe: str) -> bool:
    """config.yaml's resync.enabled (true, false or "auto") for a corpus recipe."""
    if setting == "auto":
        return recipe not in IN_SYNC
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"resync.enabled must be true, false or auto, not {setting!r}")
