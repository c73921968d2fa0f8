"""What `unisync score` is asked to score: video files, folders (searched recursively for video files)
and list files (.txt, .lst, .list: one path per line, relative to the list's folder, `#` comments),
expanded into one `InputItem` per video with a unique clip id.

Nothing named is dropped on the way: a path that does not exist, a dangling symlink, or a file or
folder that cannot be read stays in the list with its reason, so it gets a row in the outputs
instead of vanishing; `missing` marks the paths the user named (arguments and list entries) that do
not exist, for which the command exits non-zero.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from unisync_model.io.media import VIDEO_EXTENSIONS

LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class InputItem:
    path: Path
    clip_id: str  # unique: relative path in a folder without extension, else the file's stem (-2, -3, … on clashes)
    reason: str | None = None  # why it cannot be scored whatever the scorer (None: try it)
    missing: bool = False  # a path the user named that does not exist


def _list_file(path: Path) -> list[Path]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entry = Path(line).expanduser()
            out.append(entry if entry.is_absolute() else path.parent / entry)
    return out


def _entry_reason(path: Path) -> str | None:
    """Why a folder entry cannot be read, before any decoder sees it."""
    if path.is_symlink() and not path.exists():
        return f"dangling symlink (to {os.readlink(path)})"
    if not os.access(path, os.R_OK):
        return "unreadable: permission denied"
    return None


def _folder(folder: Path) -> list[InputItem]:
    """The video files under a folder, in sorted order, with the entries and subfolders it cannot read."""
    items: list[InputItem] = []

    def unreadable(err: OSError) -> None:
        where = Path(err.filename or folder)
        rel = where.relative_to(folder).as_posix() if where != folder else where.name
        items.append(InputItem(where, rel, f"unreadable folder: {err.strerror or err}"))

    for top, dirs, files in os.walk(folder, onerror=unreadable):  # symlinked folders are not followed, as rglob
        dirs.sort()
        for name in sorted(files):
            path = Path(top, name)
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                rel = path.relative_to(folder).with_suffix("").as_posix()
                items.append(InputItem(path, rel, _entry_reason(path)))
    return sorted(items, key=lambda item: item.path.parts)


def _expand(given: Path) -> list[InputItem]:
    if given.is_dir():
        return _folder(given)
    if given.is_file() and given.suffix.lower() in LIST_SUFFIXES:
        return [item for entry in _list_file(given) for item in _expand(entry)]
    clip_id = given.stem or given.name or "video"
    if not given.exists():
        reason = f"dangling symlink (to {os.readlink(given)})" if given.is_symlink() else "file missing"
        return [InputItem(given, clip_id, reason, missing=True)]
    return [InputItem(given, clip_id)]  # any other name: what is not a video gets its reason when decoded


def expand_inputs(paths: Iterable[str | Path]) -> list[InputItem]:
    """One InputItem per video named by `paths` (files, folders, list files), clip ids made unique."""
    items = [item for given in paths for item in _expand(Path(given))]
    seen: Counter[str] = Counter()
    unique = []
    for item in items:
        seen[item.clip_id] += 1
        n = seen[item.clip_id]
        unique.append(item if n == 1 else InputItem(item.path, f"{item.clip_id}-{n}", item.reason, item.missing))
    return unique
