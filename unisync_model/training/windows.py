"""Training and evaluation windows read from the shards.

`clip_table` joins the manifest with what the stages wrote (a clip needs its visual, audio and
tracks shards) and lists one row per face segment of a clip (see extract/tracks.py): a window never
spans a shot change or a long gap without the face. Each row counts the windows it can give, from
its first frame, and the frames its audio is read from the mouth (`audio_shift`: 0, or the resync
stage's shift, scoring/resync.py: training reads the audio at frame s + audio_shift for the mouth at
frame s; the resync decisions may also drop segments). `WindowDataset` serves the pairs of a plan:
each pair is one slice of the visual
shard and one of the audio shard, read through a per-process file handle, and a batch is read
straight into one buffer (shared memory in a DataLoader worker), with no per-pair tensors.

`window_loader` batches a plan for one process: `RankBatches` cuts the plan into global batches in
order and, when several processes train together (distributed.py), gives each process its own
contiguous slice of every global batch, so together they see exactly the batches one process would.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from unisync_model.corpora.manifest import STATUS_OK, read_manifest
from unisync_model.io.av_timing import audio_features, window_count
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import segments_of
from unisync_model.settings import WINDOW_FRAMES
from unisync_model.training.pairs import Plan
from unisync_model.training.resync_table import resync_by_segment

TABLE_COLUMNS = ["clip_id", "speaker", "split", "shard", "first_frame", "windows", "audio_shift"]


def open_shards(shards_dir: str | Path, stage: str, shard_names: list[str]) -> dict[str, ShardReader]:
    return {s: ShardReader(Path(shards_dir) / stage / f"{s}.h5") for s in shard_names}


def segment_windows(segments: list[tuple[int, int]], visual_frames: int, audio_frames: int,
                    audio_feature: str, audio_shift: int = 0) -> list[tuple[int, int]]:
    """(first frame, windows) of each segment that has a window with video and audio both present.
    Window starts are valid for the whole clip up to a bound, so a segment [a, b) gives the starts
    a … min(b - 5, last valid start of the clip cut at b). With the audio read `audio_shift` frames
    from the mouth, a start s also needs s + audio_shift among the audio's valid starts."""
    audio_starts = window_count(audio_frames + WINDOW_FRAMES, audio_frames, audio_feature)  # bounded by audio only
    rows = []
    for first, stop in segments:
        start = max(first, -audio_shift)
        end = min(min(stop, visual_frames) - WINDOW_FRAMES + 1, audio_starts - audio_shift)
        if end > start:
            rows.append((start, end - start))
    return rows


def clip_table(manifest: str | Path, splits: list[str], visual: dict[str, ShardReader],
               audio: dict[str, ShardReader], tracks: dict[str, ShardReader], audio_feature: str,
               resync: pd.DataFrame | None = None) -> pd.DataFrame:
    """The usable face segments of the clips of `splits`; clips missing from a shard are left out.
    `resync` (scoring/resync.py's decisions): segments it drops are left out, the others read their
    audio with its shift; segments of clips it does not list are taken as they are."""
    shifts, dropped, dropped_clips = resync_by_segment(resync)
    clips = read_manifest(manifest)
    clips = clips[(clips["status"] == STATUS_OK) & clips["split"].isin(splits) & ~clips["clip_id"].isin(dropped_clips)]
    rows = []
    for row in clips.itertuples(index=False):
        v, a, t = visual.get(row.shard), audio.get(row.shard), tracks.get(row.shard)
        if v is None or a is None or t is None or not all(row.clip_id in r for r in (v, a, t)):
            continue
        for first, stop in segments_of(t.read(row.clip_id)):
            if (row.clip_id, first) in dropped:
                continue
            shift = shifts.get((row.clip_id, first), 0)
            for start, windows in segment_windows([(first, stop)], v.length(row.clip_id), a.length(row.clip_id),
                                                  audio_feature, shift):
                rows.append({"clip_id": row.clip_id, "speaker": row.speaker, "split": row.split,
                             "shard": row.shard, "first_frame": start, "windows": windows, "audio_shift": shift})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


class WindowDataset(Dataset):
    """The pairs of a plan. `dataset[i]` is one pair (visual, audio, label, kind); a DataLoader with a
    batch sampler calls `__getitems__` instead, which reads a whole batch straight into its batch
    arrays (one read per window and modality, no per-item tensors to stack), so its loader must not
    collate again: use `window_loader`, whose collate_fn passes the batch through."""

    def __init__(self, clips: pd.DataFrame, plan: Plan, visual: dict[str, ShardReader],
                 audio: dict[str, ShardReader], audio_feature: str):
        self.clip_ids = clips["clip_id"].tolist()
        self.shards = clips["shard"].tolist()
        self.first_frames = clips["first_frame"].tolist()
        # where each segment's audio windows start: its first frame moved by its resync shift
        shifts = clips["audio_shift"] if "audio_shift" in clips else 0
        self._audio_first = (clips["first_frame"] + shifts).to_numpy(np.int64)
        self.plan = plan
        self.visual = visual
        self.audio = audio
        self.audio_start, self.audio_length, _ = audio_features(audio_feature)
        self._first = np.asarray(self.first_frames, np.int64)

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int):
        p = self.plan
        vc, ac = int(p.visual_clip[i]), int(p.audio_clip[i])
        vs = self.first_frames[vc] + int(p.visual_start[i])
        visual = self.visual[self.shards[vc]].read(self.clip_ids[vc], vs, vs + WINDOW_FRAMES)
        a0 = self.audio_start(int(self._audio_first[ac]) + int(p.audio_start[i]))
        audio = self.audio[self.shards[ac]].read(self.clip_ids[ac], a0, a0 + self.audio_length)
        return (torch.from_numpy(np.ascontiguousarray(visual)), torch.from_numpy(audio.astype(np.float32)),
                int(p.label[i]), int(p.kind[i]))

    def __getitems__(self, indices: list[int]):
        """The batch of pairs `indices`: visual B × 5 × …, audio B × frames × … (float32), label, kind,
        all four views of one buffer (batch_buffer)."""
        p, idx = self.plan, np.asarray(indices, np.int64)
        vc, ac = p.visual_clip[idx], p.audio_clip[idx]
        v_start = self._first[vc] + p.visual_start[idx]
        a_start = [self.audio_start(int(f)) for f in self._audio_first[ac] + p.audio_start[idx]]
        v_reader, a_reader = (_shaped(readers, self.shards, clips[:1])
                              for readers, clips in ((self.visual, vc), (self.audio, ac)))
        b = len(idx)
        visual, audio, label, kind = batch_buffer([
            ((b, WINDOW_FRAMES, *v_reader.frame_shape), v_reader.dtype),
            ((b, self.audio_length, *a_reader.frame_shape), np.dtype(np.float32)),
            ((b,), np.dtype(np.int64)), ((b,), np.dtype(np.int64))])
        v, a = visual.numpy(), audio.numpy()
        for k, (c, s) in enumerate(zip(vc.tolist(), v_start.tolist())):
            self.visual[self.shards[c]].read_into(self.clip_ids[c], s, s + WINDOW_FRAMES, v[k])
        # float16 features (HuBERT) go through a buffer of the shard's dtype into the float32 batch
        piece = None if a_reader.dtype == np.float32 else np.empty(a.shape[1:], a_reader.dtype)
        for k, (c, s) in enumerate(zip(ac.tolist(), a_start)):
            self.audio[self.shards[c]].read_into(self.clip_ids[c], s, s + self.audio_length,
                                                 a[k] if piece is None else piece)
            if piece is not None:
                a[k] = piece
        label.numpy()[:] = p.label[idx]
        kind.numpy()[:] = p.kind[idx]
        return visual, audio, label, kind


def _shaped(readers: dict[str, ShardReader], shards: list[str], clips: np.ndarray) -> ShardReader:
    """A reader whose frame shape and dtype are the batch's: the first pair's shard (every shard of
    a stage holds one shape), or any shard with clips for an empty batch."""
    if len(clips):
        return readers[shards[int(clips[0])]]
    return next(r for r in readers.values() if len(r))


ALIGN = 64  # bytes: every view of a batch buffer starts on a cache line


def batch_buffer(parts: list[tuple[tuple[int, ...], np.dtype]]) -> list[torch.Tensor]:
    """Tensors of the given shapes and dtypes, views of one uint8 buffer. In a DataLoader worker the
    buffer is allocated in shared memory from the start (as torch's default_collate does): sending
    the batch to the main process then copies nothing, where tensors in private memory would each
    be copied into shared memory first (17 ms of a Mel × RGB batch of 64 on the benchmark machine,
    against 0.7 ms to read it)."""
    sizes = [int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize for shape, dtype in parts]
    starts = np.cumsum([0] + [-(-n // ALIGN) * ALIGN for n in sizes])
    if get_worker_info() is None:
        buffer = torch.empty(int(starts[-1]), dtype=torch.uint8)
    else:
        buffer = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(int(starts[-1])))
    return [buffer[int(start):int(start) + n].view(TORCH_DTYPES[np.dtype(dtype)]).view(shape)
            for (shape, dtype), start, n in zip(parts, starts, sizes)]


TORCH_DTYPES = {np.dtype(n): getattr(torch, n) for n in ("uint8", "int8", "int16", "int32", "int64", "float16",
                                                         "float32", "float64")}


def whole_batch(batch):
    """collate_fn for WindowDataset's batches: they come out of __getitems__ already batched."""
    return batch


def worker_init(_: int) -> None:
    """One thread per DataLoader worker: on few cores, per-worker BLAS/OpenMP pools fight each other."""
    torch.set_num_threads(1)


PREFETCH_BATCHES = 4  # batches each worker reads ahead


def rank_slice(size: int, rank: int, world: int) -> tuple[int, int]:
    """[lo, hi) of process `rank`'s share of `size` items split as evenly as possible (the first
    size % world processes take one more), like np.array_split."""
    base, extra = divmod(size, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class RankBatches(Sampler[list[int]]):
    """The batches of one process for a plan of n pairs. The plan is cut, in order, into global
    batches of `batch_size` pairs (the last may be shorter), exactly the batches of a one-process
    run; each global batch is split into `world` contiguous slices and process `rank` takes its own.

    With `even` (training: DDP needs every process in every step), a last global batch with fewer
    pairs than processes is left out; one process never leaves anything out."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1, even: bool = True):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
        self.dropped = sizes.pop() if even and sizes and sizes[-1] < world else 0
        self.global_sizes = sizes  # pairs per step over every process
        self.skip_empty = not even

    def __iter__(self):
        for step, size in enumerate(self.global_sizes):
            if size > self.rank or not self.skip_empty:  # a slice is empty when size <= rank
                lo, hi = rank_slice(size, self.rank, self.world)
                start = step * self.batch_size
                yield list(range(start + lo, start + hi))

    def __len__(self) -> int:
        if not self.skip_empty:
            return len(self.global_sizes)
        return sum(size > self.rank for size in self.global_sizes)


def window_loader(dataset: WindowDataset, batches: RankBatches, workers: int, device: torch.device,
                  persistent: bool = False) -> DataLoader:
    """Batches of windows for one process: `workers` processes read whole windows through their own
    HDF5 handles (ShardReader reopens per process) with one thread each, PREFETCH_BATCHES batches
    ahead; pinned memory on cuda, for asynchronous copies. `persistent` keeps the workers (and their
    open files) between passes: worth it for a loader iterated every epoch, such as validation's."""
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=whole_batch,
                      worker_init_fn=worker_init if workers else None, pin_memory=device.type == "cuda",
                      prefetch_factor=PREFETCH_BATCHES if workers else None,
                      persistent_workers=persistent and workers > 0)
