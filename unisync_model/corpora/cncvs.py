"""CN-CVS (Chinese continuous visual speech).

Layout: <root>/{news,speech}/<speaker>/video/<name>.mp4, with the audio inside the mp4 or as
<root>/{news,speech}/<speaker>/audio/<name>.wav. The speaker is the folder. CN-CVS has no standard
sync split, so speakers are split by a hash of their name (stable across runs and machines); a
filelist (`<clip id> <split>` per line, clip id = `<news|speech>/<speaker>/<name>`) overrides it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from unisync_model.corpora.splits import split_of_speaker
from unisync_model.io.media import VIDEO_EXTENSIONS

SUBSETS = ("news", "speech")


def read_split_filelist(path: str | Path) -> dict[str, str]:
    splits = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected '<clip id> <split>', got {line!r}")
        splits[parts[0]] = parts[1]
    return splits


def list_clips(root: str | Path, split_fractions: dict[str, float] | None = None,
               split_filelist: str | Path | None = None) -> pd.DataFrame:
    root = Path(root)
    overrides = read_split_filelist(split_filelist) if split_filelist else {}
    rows = []
    for subset in SUBSETS:
        videos = (p for p in (root / subset).glob("*/video/*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        for video in sorted(videos):
            speaker = f"{subset}/{video.parent.parent.name}"
            clip_id = f"{speaker}/{video.stem}"
            wav = video.parent.parent / "audio" / f"{video.stem}.wav"
            rows.append({"clip_id": clip_id, "speaker": speaker,
                         "split": overrides.get(clip_id) or split_of_speaker(speaker, split_fractions),
                         "path": str(video), "audio_path": str(wav if wav.is_file() else video)})
    if not rows:
        raise FileNotFoundError(f"no CN-CVS clips under {root} (expected {{news,speech}}/<speaker>/video/*.mp4)")
    unknown = set(overrides) - {r["clip_id"] for r in rows}
    if unknown:
        raise ValueError(f"{split_filelist}: {len(unknown)} clip id(s) not in the corpus, e.g. {sorted(unknown)[:3]}")
    return pd.DataFrame(rows)
