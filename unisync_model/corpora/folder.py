"""Any folder of videos, or a CSV listing them.

Folder: every video file under the root (by extension); the speaker is taken from the path relative
to the root by a regular expression with a named group `speaker` (by default the parent folder),
and the split by a hash of the speaker (stable across runs). CSV: columns path, speaker and split
(paths relative to the CSV's folder or absolute); clip ids are the paths as listed, without extension.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from unisync_model.corpora.splits import split_of_speaker
from unisync_model.io.media import VIDEO_EXTENSIONS

DEFAULT_SPEAKER_PATTERN = r"(?:^|/)(?P<speaker>[^/]+)/[^/]+$"  # the parent folder; top-level files: the file


def list_clips(root: str | Path, speaker_pattern: str = DEFAULT_SPEAKER_PATTERN,
               split_fractions: dict[str, float] | None = None, csv: str | Path | None = None) -> pd.DataFrame:
    root = Path(root)
    if csv:
        return _from_csv(Path(csv))
    pattern = re.compile(speaker_pattern)
    if "speaker" not in pattern.groupindex:
        raise ValueError(f"speaker_pattern {speaker_pattern!r} needs a named group (?P<speaker>...)")
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()):
        relative = path.relative_to(root).as_posix()
        match = pattern.search(relative)
        speaker = match.group("speaker") if match else path.stem
        rows.append({"clip_id": relative.rsplit(".", 1)[0], "speaker": speaker,
                     "split": split_of_speaker(speaker, split_fractions), "path": str(path), "audio_path": str(path)})
    if not rows:
        raise FileNotFoundError(f"no video files under {root} (extensions {', '.join(VIDEO_EXTENSIONS)})")
    return pd.DataFrame(rows)


def _from_csv(csv: Path) -> pd.DataFrame:
    table = pd.read_csv(csv, dtype=str)
    missing = {"path", "speaker", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv}: missing column(s) {sorted(missing)}; need path, speaker, split")
    paths = [Path(p) if Path(p).is_absolute() else csv.parent / p for p in table["path"]]
    return pd.DataFrame({"clip_id": [Path(q).with_suffix("").as_posix().lstrip("/") for q in table["path"]],
                         "speaker": table["speaker"], "split": table["split"],
                         "path": [str(p) for p in paths], "audio_path": [str(p) for p in paths]})
