"""The resync decisions as training reads them (written by scoring/resync.py): one row per face
segment, keyed by clip id and the segment's first frame, saying whether its windows are kept as
they are, read with the audio shifted (`audio_shift` frames from the mouth), or dropped; a row with
segment −1 drops a whole clip that got no score."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

KEEP, SHIFT, DROP = "keep", "shift", "drop"
DECISION_COLUMNS = ["clip_id", "split", "segment", "first_frame", "stop_frame", "decision", "audio_shift",
                    "offset_frames", "confidence", "windows", "reason", "scorer"]


def read_decisions(path: str | Path) -> pd.DataFrame:
    """decisions.csv, checked for the columns and values training reads."""
    table = pd.read_csv(path, dtype={"clip_id": str, "split": str, "reason": str, "scorer": str},
                        keep_default_na=False, na_values={"offset_frames": [""], "confidence": [""]})
    missing = [c for c in ("clip_id", "segment", "first_frame", "decision", "audio_shift") if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a resync decisions table: no column(s) {missing}")
    unknown = sorted(set(table["decision"]) - {KEEP, SHIFT, DROP})
    if unknown:
        raise ValueError(f"{path}: unknown decision(s) {unknown}; known: {KEEP}, {SHIFT}, {DROP}")
    return table


def resync_by_segment(resync: pd.DataFrame | None) -> tuple[dict[tuple[str, int], int], set, set]:
    """(the audio shift of each kept or shifted segment by (clip id, first frame), the segments
    dropped, the clips dropped whole)."""
    if resync is None:
        return {}, set(), set()
    shifts, dropped, dropped_clips = {}, set(), set()
    for row in resync.itertuples(index=False):
        key = (str(row.clip_id), int(row.first_frame))
        if row.decision != DROP:
            shifts[key] = int(row.audio_shift)
        elif int(row.segment) < 0:
            dropped_clips.add(key[0])
        else:
            dropped.add(key)
    return shifts, dropped, dropped_clips
