"""HDF5 shards: the clips of one shard of one stage, concatenated along time.

Layout of a shard file:
  data      (ΣT, …)  the per-frame features of every clip, one after another
  offsets   (n + 1,) clip k is data[offsets[k]:offsets[k + 1]]
  clip_id   (n,)     the clip ids, in the order of `offsets`
  info      (n,)     a JSON record per clip of what the stage decided (e.g. which face it kept)
  skipped   (m,)     JSON records {"clip_id", "reason"} of the clips this stage could not process
  attrs              stage, backend, version and the settings that produced the file

A writer fills `<name>.tmp` and renames it onto the final name only when it closes cleanly, so an
interrupted stage never leaves a file that looks finished.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from unisync_model import __version__

STR = h5py.string_dtype()


class ShardWriter:
    """Append clips one at a time; `close()` (or leaving the `with` block) publishes the file."""

    def __init__(self, path: str | os.PathLike, stage: str, attrs: dict[str, Any] | None = None,
                 chunk_frames: int = 64):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.tmp, "w")
        self._file.attrs["stage"] = stage
        self._file.attrs["unisync_version"] = __version__
        for key, value in (attrs or {}).items():
            self._file.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
        self._chunk_frames = chunk_frames
        self._offsets = [0]
        self._ids: list[str] = []
        self._info: list[str] = []
        self._skipped: list[str] = []
        self._data: h5py.Dataset | None = None

    def add(self, clip_id: str, frames: np.ndarray, info: dict | None = None) -> None:
        frames = np.asarray(frames)
        if frames.ndim == 0 or len(frames) == 0:
            raise ValueError(f"{clip_id}: no frames to write")
        if self._data is None:
            self._data = self._file.create_dataset(
                "data", shape=(0, *frames.shape[1:]), maxshape=(None, *frames.shape[1:]),
                dtype=frames.dtype, chunks=(self._chunk_frames, *frames.shape[1:]))
        elif frames.shape[1:] != self._data.shape[1:] or frames.dtype != self._data.dtype:
            raise ValueError(f"{clip_id}: frames {frames.shape[1:]} {frames.dtype} do not match the shard's "
                             f"{self._data.shape[1:]} {self._data.dtype}")
        start = self._offsets[-1]
        self._data.resize(start + len(frames), axis=0)
        self._data[start:] = frames
        self._offsets.append(start + len(frames))
        self._ids.append(clip_id)
        self._info.append(json.dumps(info or {}, sort_keys=True))

    def skip(self, clip_id: str, reason: str) -> None:
        self._skipped.append(json.dumps({"clip_id": clip_id, "reason": reason}))

    def close(self) -> None:
        f = self._file
        if self._data is None:  # a shard with no clip still says so explicitly
            f.create_dataset("data", shape=(0,), dtype=np.float32)
        f.create_dataset("offsets", data=np.asarray(self._offsets, dtype=np.int64))
        f.create_dataset("clip_id", data=np.asarray(self._ids, dtype=object), dtype=STR)
        f.create_dataset("info", data=np.asarray(self._info, dtype=object), dtype=STR)
        f.create_dataset("skipped", data=np.asarray(self._skipped, dtype=object), dtype=STR)
        f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ShardReader:
    """Random access to the clips of a shard. The HDF5 file is opened on first use, so a reader
    made in the main process can be handed to DataLoader workers and each opens its own handle."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            self.offsets = f["offsets"][:]
            self.clip_ids = [s.decode() if isinstance(s, bytes) else s for s in f["clip_id"][:]]
            self.skipped = [json.loads(s) for s in f["skipped"].asstr()[:]]
            self._info = list(f["info"].asstr()[:]) if "info" in f else [""] * len(self.clip_ids)
            self.attrs = dict(f.attrs)
        self.index = {cid: k for k, cid in enumerate(self.clip_ids)}
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _data(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file["data"]

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self.index

    def length(self, clip_id: str) -> int:
        k = self.index[clip_id]
        return int(self.offsets[k + 1] - self.offsets[k])

    def info(self, clip_id: str) -> dict:
        """What the stage recorded about a written clip ({} if nothing)."""
        return json.loads(self._info[self.index[clip_id]] or "{}")

    def read(self, clip_id: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) of a clip, in one slice of the file."""
        k = self.index[clip_id]
        begin, end = int(self.offsets[k]), int(self.offsets[k + 1])
        stop = end - begin if stop is None else stop
        if not 0 <= start <= stop <= end - begin:
            raise IndexError(f"{clip_id}: frames [{start}, {stop}) outside [0, {end - begin})")
        return self._data()[begin + start: begin + stop]

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        for clip_id in self.clip_ids:
            yield clip_id, self.read(clip_id)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles do not cross process boundaries
        return state
