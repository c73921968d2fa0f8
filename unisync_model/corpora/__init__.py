"""Corpus recipes: each lists the clips of a corpus as a table with the columns of `CLIP_COLUMNS`.

A recipe is a function `list_clips(root) -> pandas.DataFrame`; the manifest stage adds the shard
and status columns. Add a corpus by adding a module and registering it in `RECIPES`.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from unisync_model.corpora import lrs2

CLIP_COLUMNS = ["clip_id", "speaker", "split", "path"]

RECIPES: dict[str, Callable[..., pd.DataFrame]] = {
    "lrs2": lrs2.list_clips,
}
