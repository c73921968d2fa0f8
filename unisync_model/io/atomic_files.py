"""Writing a file so that nobody ever reads it half-written: a temporary name, then a rename."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Writer = Callable[[Path], Any]  # writes the whole file at the path it is given


def temporary_path(path: Path, keep_suffix: bool = False) -> Path:
    """Where `path` is written before the rename: beside it (same folder, so the rename stays on one
    filesystem), `<name>.tmp`, or `<stem>.part<suffix>` for writers that pick the format by the suffix."""
    return path.with_name(path.stem + ".part" + path.suffix if keep_suffix else path.name + ".tmp")


def write_atomic(path: str | Path, data: bytes | str | Writer, *, fsync: bool = False,
                 keep_suffix: bool = False) -> None:
    """Write `path` atomically: `data` (bytes, or text as UTF-8), or whatever the callback `data(tmp)`
    writes to the temporary path it is handed (torch.save, DataFrame.to_parquet, ffmpeg, …), lands at
    temporary_path(path) and is then renamed onto `path` (os.replace). `fsync`: flush the file to disk
    before the rename. The folder is made if missing; a failed write leaves no temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, keep_suffix)
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        if fsync:
            with open(tmp, "rb+") as written:
                os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
