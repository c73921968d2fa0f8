"""LRS2 (and the demo corpus, which is laid out the same way).

Layout: <root>/mvlrs_v1/{main,pretrain}/<video id>/<clip>.mp4 and the filelists <root>/{pretrain,
train,val,test}.txt with one `<video id>/<clip>` per line (test lines may end in ` NF` or ` MV`).
LRS2 has no speaker labels, so the video id stands for the speaker: two clips of one video are one
speaker, and one person appearing in two videos counts as two speakers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

FOLDERS = {"pretrain": "pretrain", "train": "main", "val": "main", "test": "main"}


def list_clips(root: str | Path, splits: list[str] | tuple[str, ...] = ("train", "val", "test")) -> pd.DataFrame:
    """`splits` may include "pretrain" (its clips are long and unfiltered; listed as split pretrain)."""
    root = Path(root)
    rows = []
    for split in splits:
        if split not in FOLDERS:
            raise ValueError(f"unknown LRS2 split {split!r}; known: {sorted(FOLDERS)}")
        filelist = root / f"{split}.txt"
        if not filelist.is_file():
            raise FileNotFoundError(f"LRS2 filelist {filelist} is missing")
        for line in filelist.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            name = line.split()[0]  # drop the NF / MV marks of the test list
            path = str(root / "mvlrs_v1" / FOLDERS[split] / f"{name}.mp4")
            rows.append({"clip_id": name, "speaker": name.split("/")[0], "split": split,
                         "path": path, "audio_path": path})
    return pd.DataFrame(rows, columns=["clip_id", "speaker", "split", "path", "audio_path"])
