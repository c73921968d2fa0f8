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

Reading: a published shard never changes, and `data` is stored uncompressed in chunks of whole
frames, so a reader looks up once where each chunk sits in the file (HDF5's chunk index) and reads
a slice of frames with one `os.preadv` per chunk it touches (`RawFrames`): h5py's per-call overhead
is most of the cost of a 5-frame read (bench/RESULTS.md, benchmark (b)). Datasets with filters
(compression) or other layouts are read through h5py.
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


class RawFrames:
    """Where the frames of an unfiltered `data` dataset sit in the file: the byte offset of every
    chunk (chunks hold whole frames), or of the one block of a contiguous dataset. None from
    `of()` when the dataset is filtered, chunked across frames, not native-endian or not all written."""

    def __init__(self, frame_shape: tuple[int, ...], dtype: np.dtype, chunk_frames: int, chunk_bytes: np.ndarray):
        self.frame_shape, self.dtype = frame_shape, dtype
        self.frame_bytes = int(np.prod(frame_shape, dtype=np.int64)) * dtype.itemsize
        self.chunk_frames, self.chunk_bytes = chunk_frames, chunk_bytes

    @classmethod
    def of(cls, data: h5py.Dataset) -> "RawFrames | None":
        if data.ndim == 0 or data.shape[0] == 0 or not data.dtype.isnative or data.dtype.kind not in "biuf":
            return None
        plist = data.id.get_create_plist()
        if plist.get_nfilters():
            return None
        if data.chunks is None:  # contiguous: one block
            offset = data.id.get_offset()
            return None if offset is None else cls(data.shape[1:], data.dtype, data.shape[0], np.array([offset]))
        if tuple(data.chunks[1:]) != tuple(data.shape[1:]):
            return None
        chunk_frames = data.chunks[0]
        count = -(-data.shape[0] // chunk_frames)
        offsets = np.full(count, -1, np.int64)

        def note(chunk) -> None:
            offsets[chunk.chunk_offset[0] // chunk_frames] = chunk.byte_offset

        try:
            data.id.chunk_iter(note)
        except (AttributeError, NotImplementedError, RuntimeError):  # HDF5 < 1.12.3: h5py reads it
            return None
        return None if (offsets < 0).any() else cls(data.shape[1:], data.dtype, chunk_frames, offsets)

    def read_into(self, fd: int, begin: int, end: int, out: np.ndarray) -> None:
        """Frames [begin, end) of the dataset into `out` (C-contiguous, end − begin frames)."""
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while begin < end:
            chunk, within = divmod(begin, self.chunk_frames)
            frames = min(end - begin, self.chunk_frames - within)
            size = frames * self.frame_bytes
            position = int(self.chunk_bytes[chunk]) + within * self.frame_bytes
            while size:  # preadv may return short on a signal; finish the piece
                got = os.preadv(fd, [buffer[done:done + size]], position)
                if got <= 0:
                    raise OSError(f"short read at byte {position}")
                done, size, position = done + got, size - got, position + got
            begin += frames


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
            self._raw = RawFrames.of(f["data"])  # the same in every process: the file never changes
            self.frame_shape, self.dtype = tuple(f["data"].shape[1:]), f["data"].dtype
        self.index = {cid: k for k, cid in enumerate(self.clip_ids)}
        self._file: h5py.File | None = None
        self._dataset: h5py.Dataset | None = None
        self._fd: int | None = None
        self._pid: int | None = None

    def _open(self) -> None:
        """This process's handles (a handle inherited through fork is not this process's to use)."""
        if self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._dataset = self._file["data"]  # looked up once: a lookup costs as much as a small read
            self._fd = os.open(self.path, os.O_RDONLY) if self._raw is not None else None
            self._pid = os.getpid()

    def _data(self) -> h5py.Dataset:
        self._open()
        return self._dataset

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

    def _span(self, clip_id: str, start: int, stop: int | None) -> tuple[int, int]:
        k = self.index[clip_id]
        begin, end = int(self.offsets[k]), int(self.offsets[k + 1])
        stop = end - begin if stop is None else stop
        if not 0 <= start <= stop <= end - begin:
            raise IndexError(f"{clip_id}: frames [{start}, {stop}) outside [0, {end - begin})")
        return begin + start, begin + stop

    def read(self, clip_id: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) of a clip, in one slice of the file."""
        begin, end = self._span(clip_id, start, stop)
        if self._raw is None:
            return self._data()[begin:end]
        out = np.empty((end - begin, *self.frame_shape), self.dtype)
        self.read_into(clip_id, start, end - begin + start, out)
        return out

    def read_into(self, clip_id: str, start: int, stop: int, out: np.ndarray) -> None:
        """Frames [start, stop) of a clip into `out` (C-contiguous, of that shape and the shard's dtype),
        without allocating: how a batch is filled in place."""
        begin, end = self._span(clip_id, start, stop)
        if out.shape != (end - begin, *self.frame_shape) or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"{clip_id}: cannot read {end - begin} frames of {self.frame_shape} {self.dtype} into "
                             f"an array of {out.shape} {out.dtype}{'' if out.flags.c_contiguous else ', strided'}")
        self._open()
        if self._raw is None or end == begin:
            out[...] = self._dataset[begin:end]
        else:
            self._raw.read_into(self._fd, begin, end, out)

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        for clip_id in self.clip_ids:
            yield clip_id, self.read(clip_id)

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # h5py handles and file descriptors do not cross process boundaries
        state.update(_file=None, _dataset=None, _fd=None, _pid=None)
        return state
