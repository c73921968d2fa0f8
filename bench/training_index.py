"""(i) The training windows' index at full size: memory and build time at 5,000, 50,000 and 150,000 clips.

What training holds for the whole training set before its first step (training/trainer.py): a
`ShardReader` per shard of the visual, audio and tracks stages (`open_shards`: each reads its shard's
offsets, clip ids and per-clip info), the clip table (`windows.clip_table`: the manifest joined with the
shards, one row per face segment with its first frame and windows), the epoch's plan of pairs
(`pairs.training_plan`: one pair per training window when windows_per_epoch is 0, config.yaml's
default) and the `WindowDataset` over them, which DataLoader workers inherit.

**Real**: every line of library code measured (read_manifest, ShardReader, clip_table, training_plan,
binary_protocol_plan, WindowDataset, window_loader with its workers). **Simulated**: the corpus. Each
size gets a manifest (the real manifest's columns; LRS2's naming, 1–9 clips per video id, the video id
as the speaker, as corpora/lrs2.py has it; 0.75 % val, 0.86 % test, the rest train — as if pretrain
were trained on too, the largest index a 150,000-clip corpus gives) and shard files in the library's
layout, 750 clips a shard (`shards: auto`): tracks shards with real track arrays (one face segment over
the clip; one clip in five has two, around a 15-frame gap), rgb (48 × 96 × 3 uint8) and mel (80 float32
at 80 Hz) shards whose offsets are real but whose frames are never written (HDF5 allocates no chunk, a
read gives zeros): the index reads only offsets, and the loader's reads are timed elsewhere ((b)).
Clip lengths: two thirds pretrain-like (mean 182 frames = LRS2 pretrain's 195 h over 96,318 clips), one
third main-like (mean 150 frames), gamma-distributed, at least 30 frames.

Each size runs in a fresh process: time and resident memory after each step (VmRSS), the process's
peak (VmHWM); then `window_loader` with --workers workers over a plan of --loader-pairs pairs reads
--batches batches and each worker's memory is read from /proc (Rss, Pss, and Private: what the worker
does not share with the training process).

`training_plan` holds its arrays (6 int64 per pair) and each speaker's own clips (`pairs.OtherSpeakers`:
a cross-speaker negative is a binary search over the table's cumulative windows, the same draw as
before). Until 2026-12-06 it built, per speaker, the list of every other speaker's clips: 8 × speakers
× clips bytes, ~39 GB at 150,000 LRS2 clips, and its time per pair grew with the corpus: this
benchmark found it. It runs for real at every size on
--plan-pairs pairs (time per pair and memory as the corpus grows) and for a whole epoch at
--epoch-sizes; an epoch's time at the other sizes is its pairs × the time per pair measured there.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, machine, table, write_section

CLIPS_PER_SHARD = 750
CHUNK_FRAMES = 64
PRETRAIN_SHARE, PRETRAIN_MEAN, MAIN_MEAN, MIN_FRAMES = 2 / 3, 182.0, 150.0, 30
VAL_SHARE, TEST_SHARE = 0.0075, 0.0086
TWO_SEGMENT_SHARE, GAP_FRAMES = 0.2, 15
AUDIO, VISUAL = "mel", "rgb"


# ---------------------------------------------------------------- the simulated corpus

def simulated_clips(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Per clip: id, speaker (video id), split, frames, and whether its track has two segments."""
    rng = np.random.default_rng(seed)
    per_video = rng.integers(1, 10, size=n)  # 1–9 clips per video, as simulated.py's LRS2
    video = np.repeat(np.arange(n), per_video)[:n]
    clip_in_video = np.arange(n) - np.searchsorted(video, video)
    pretrain = rng.random(n) < PRETRAIN_SHARE
    mean = np.where(pretrain, PRETRAIN_MEAN, MAIN_MEAN)
    frames = np.maximum(MIN_FRAMES, rng.gamma(4.0, mean / 4.0)).astype(np.int64)
    draw = rng.random(n)
    split = np.where(draw < VAL_SHARE, "val", np.where(draw < VAL_SHARE + TEST_SHARE, "test", "train"))
    ids = np.array([f"{6_000_000_000_000_000_000 + v * 7_919}/{k + 1:05d}" for v, k in zip(video, clip_in_video)])
    speakers = np.array([i.split("/")[0] for i in ids])
    return {"clip_id": ids, "speaker": speakers, "split": split, "frames": frames,
            "two_segments": rng.random(n) < TWO_SEGMENT_SHARE}


def mel_frames(frames: np.ndarray) -> np.ndarray:
    """The mel stage's frames for `frames` 25 fps frames of audio (extract/mel.py: centred, hop 200)."""
    from unisync_model.io.av_timing import MEL_RATE
    from unisync_model.settings import FPS
    return -(-frames * MEL_RATE // FPS) + 1


def write_shard(path: Path, stage: str, ids: list[str], lengths: np.ndarray, frame_shape: tuple[int, ...],
                dtype, infos: list[str], data: np.ndarray | None = None) -> None:
    """A shard file in io/shards.py's layout; `data` None: the frames are declared but never written."""
    import h5py

    from unisync_model.io.shards import STR
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    with h5py.File(path, "w") as f:
        f.attrs["stage"] = stage
        ds = f.create_dataset("data", shape=(int(offsets[-1]), *frame_shape), maxshape=(None, *frame_shape),
                              dtype=dtype, chunks=(CHUNK_FRAMES, *frame_shape))
        if data is not None:
            ds[:] = data
        f.create_dataset("offsets", data=offsets)
        f.create_dataset("clip_id", data=np.asarray(ids, dtype=object), dtype=STR)
        f.create_dataset("info", data=np.asarray(infos, dtype=object), dtype=STR)
        f.create_dataset("skipped", data=np.asarray([], dtype=object), dtype=STR)


def track_arrays(frames: np.ndarray, two: np.ndarray) -> np.ndarray:
    """The concatenated track arrays of a shard's clips: segment 0 over each clip, or 0 / -1 / 1 around a gap."""
    from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
    out = np.zeros((int(frames.sum()), len(TRACK_COLUMNS)), np.float32)
    start = 0
    for t, split in zip(frames.tolist(), two.tolist()):
        if split and t > 2 * MIN_FRAMES:
            a = t // 2 - GAP_FRAMES // 2
            out[start + a:start + a + GAP_FRAMES, SEGMENT] = -1
            out[start + a + GAP_FRAMES:start + t, SEGMENT] = 1
        start += t
    return out


def tracks_info(t: int, two: bool) -> str:
    """A record like the tracks stage's (track_stream.finish) for each clip."""
    segments = [[0, t // 2 - GAP_FRAMES // 2], [t // 2 - GAP_FRAMES // 2 + GAP_FRAMES, t]] if two else [[0, t]]
    return json.dumps({"frames": t, "segments": segments, "frames_in_segments": sum(b - a for a, b in segments),
                       "detected_frames": t // 2, "searched_frames": t // 2, "most_faces_in_a_frame": 1,
                       "face_tracks": len(segments), "shot_changes": 0, "decoded_size": [320, 320],
                       "detect_every": 2}, sort_keys=True)


def write_corpus(root: Path, n: int) -> dict:
    """The manifest and the rgb / mel / tracks shards of a simulated corpus of n clips."""
    import pandas as pd

    from unisync_model.corpora.manifest import STATUS_OK, shard_names, write_manifest
    from unisync_model.io.media import VideoInfo
    from unisync_model.representations import get
    from unisync_model.settings import FPS
    clips = simulated_clips(n)
    shards = max(1, round(n / CLIPS_PER_SHARD))
    names = shard_names(shards)
    shard_of = np.arange(n) * shards // n  # contiguous blocks of about 750 clips
    paths = [f"/corpus/lrs2/mvlrs_v1/main/{c}.mp4" for c in clips["clip_id"]]
    table_ = pd.DataFrame({"clip_id": clips["clip_id"], "speaker": clips["speaker"], "split": clips["split"],
                           "path": paths, "audio_path": paths, "shard": [names[k] for k in shard_of]})
    seconds = clips["frames"] / FPS
    facts = {f.name: f.default for f in dataclasses.fields(VideoInfo) if f.default is not dataclasses.MISSING}
    facts.update(width=160, height=160, duration=seconds, has_audio=True, rotation=0, codec="h264", fps=25.0,
                 frames=clips["frames"], video_seconds=seconds, audio_seconds=seconds, audio_rate=16000,
                 audio_channels=1, audio_codec="aac", audio_streams=[[1]] * n, audio_default=0)
    for name, value in facts.items():
        table_[name] = value
    table_["status"] = STATUS_OK
    write_manifest(table_, root / "clips.parquet")
    rgb_shape = tuple(get(VISUAL).frame_shape)
    for k, shard in enumerate(names):
        mine = np.flatnonzero(shard_of == k)
        ids, frames, two = clips["clip_id"][mine].tolist(), clips["frames"][mine], clips["two_segments"][mine]
        write_shard(root / "shards" / "tracks" / f"{shard}.h5", "tracks", ids, frames, (17,), np.float32,
                    [tracks_info(t, s) for t, s in zip(frames.tolist(), two.tolist())], track_arrays(frames, two))
        write_shard(root / "shards" / VISUAL / f"{shard}.h5", VISUAL, ids, frames, rgb_shape, np.uint8,
                    ["{}"] * len(ids))
        write_shard(root / "shards" / AUDIO / f"{shard}.h5", AUDIO, ids, mel_frames(frames), (80,), np.float32,
                    ["{}"] * len(ids))
    return {"shards": shards, "frames": int(clips["frames"].sum()),
            "train clips": int((clips["split"] == "train").sum()),
            "speakers": len(set(clips["speaker"].tolist()))}


# ---------------------------------------------------------------- measured in a fresh process

def status_mb(field: str, pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rollup_mb(pid: int) -> dict[str, float]:
    """A process's Rss, Pss and Private (clean + dirty) memory, MB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":")
        values[key] = int(value.split()[0]) / 1024
    return {"Rss": values["Rss"], "Pss": values["Pss"],
            "Private": values["Private_Clean"] + values["Private_Dirty"]}


class Steps:
    """Wall seconds and resident MB after each step of the index's build."""

    def __init__(self):
        self.rows, self.last = [], time.perf_counter()

    def done(self, step: str, **extra) -> None:
        now = time.perf_counter()
        self.rows.append({"step": step, "s": now - self.last, "rss MB": status_mb("VmRSS"), **extra})
        self.last = time.perf_counter()


def child_index(root: Path, workers: int, batches: int, loader_pairs: int) -> dict:
    """trainer._train's steps up to the first epoch's loader, on the simulated corpus at `root`."""
    steps = Steps()
    import pyarrow.parquet  # noqa: F401  (read_manifest's parquet reader, imported on first use)
    import torch

    from unisync_model.corpora.manifest import shard_names
    from unisync_model.settings import WINDOW_FRAMES
    from unisync_model.training.pairs import binary_protocol_plan
    from unisync_model.training.windows import RankBatches, WindowDataset, clip_table, open_shards, window_loader
    torch.set_num_threads(1)
    steps.done("imports (torch, pyarrow, the library)")
    names = shard_names(len(list((root / "shards" / "tracks").glob("*.h5"))))
    visual, audio = open_shards(root / "shards", VISUAL, names), open_shards(root / "shards", AUDIO, names)
    tracks = open_shards(root / "shards", "tracks", names)
    steps.done(f"open_shards: {3 * len(names)} ShardReaders")
    train = clip_table(root / "clips.parquet", ["train"], visual, audio, tracks, AUDIO)
    steps.done("clip_table(train)", rows=len(train), windows=int(train["windows"].sum()))
    val = clip_table(root / "clips.parquet", ["val"], visual, audio, tracks, AUDIO)
    steps.done("clip_table(val)", rows=len(val))
    val_plan = binary_protocol_plan(val, 1000, 1, min_shift=WINDOW_FRAMES)
    WindowDataset(val, val_plan, visual, audio, AUDIO)
    steps.done("validation plan (1,000 pairs) and its WindowDataset")
    plan = binary_protocol_plan(train, loader_pairs, 0, min_shift=WINDOW_FRAMES)
    steps.done(f"a plan of {loader_pairs:,} pairs (binary_protocol_plan)")
    dataset = WindowDataset(train, plan, visual, audio, AUDIO)
    steps.done("WindowDataset(train)")
    index_mb = status_mb("VmRSS")
    loader = window_loader(dataset, RankBatches(len(plan), 64), workers, torch.device("cpu"))
    it = iter(loader)
    next(it)
    pids = [w.pid for w in it._workers]
    first = [rollup_mb(p) for p in pids]
    for _ in range(batches - 1):
        next(it)
    last = [rollup_mb(p) for p in pids]
    steps.done(f"window_loader, {workers} workers: {batches} batches of 64")
    del it
    return {"steps": steps.rows, "peak MB": status_mb("VmHWM"), "index rss MB": index_mb,
            "workers first": first, "workers last": last}


def plan_clips(n: int):
    """A clip table of n clips of the simulated corpus (what training_plan reads: speaker, windows)."""
    import pandas as pd

    from unisync_model.io.av_timing import window_count
    clips = simulated_clips(n)
    windows = [window_count(int(t), int(m), AUDIO) for t, m in zip(clips["frames"], mel_frames(clips["frames"]))]
    return pd.DataFrame({"speaker": clips["speaker"], "windows": windows})


def child_plan(n: int, pairs: int) -> dict:
    """training_plan over n clips: `pairs` pairs (0: one whole epoch, a pair per window)."""
    from unisync_model.settings import NegativeMix
    from unisync_model.training.pairs import training_plan
    clips = plan_clips(n)
    pairs = pairs or int(clips["windows"].sum())
    before = status_mb("VmRSS")
    start = time.perf_counter()
    plan = training_plan(clips, pairs, np.random.default_rng([0, 0]), NegativeMix(), 0.5)
    seconds = time.perf_counter() - start
    arrays = sum(getattr(plan, f.name).nbytes for f in dataclasses.fields(plan))
    return {"clips": n, "speakers": int(clips["speaker"].nunique()), "pairs": pairs, "s": seconds,
            "peak + MB": status_mb("VmHWM") - before, "plan arrays MB": arrays / 2**20}


def run_child(args: list[str], out: Path) -> dict:
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(out), *args], cwd=REPO, check=True)
    return json.loads(out.read_text())


# ---------------------------------------------------------------- the report

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,50000,150000", help="Clips per simulated corpus.")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (config.yaml's train.workers).")
    parser.add_argument("--batches", type=int, default=200, help="Batches of 64 the workers read.")
    parser.add_argument("--loader-pairs", type=int, default=100_000, help="Pairs of the loader's plan.")
    parser.add_argument("--plan-pairs", type=int, default=200_000, help="Pairs of training_plan at every size.")
    parser.add_argument("--epoch-sizes", default="5000,50000", help="Clips at which a whole epoch's plan is built.")
    parser.add_argument("--no-record", action="store_true", help="Print only; leave RESULTS.md alone.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-kind", help=argparse.SUPPRESS)
    parser.add_argument("--child-arg", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child_kind == "index":
            result = child_index(Path(args.child_arg), args.workers, args.batches, args.loader_pairs)
        else:
            n, pairs = map(int, args.child_arg.split(","))
            result = child_plan(n, pairs)
        Path(args.child).write_text(json.dumps(result))
        return

    info = machine()
    sizes = [int(s) for s in args.sizes.split(",")]
    index_rows, step_rows, worker_rows = [], [], []
    child = ["--workers", str(args.workers), "--batches", str(args.batches), "--loader-pairs", str(args.loader_pairs)]
    with tempfile.TemporaryDirectory(prefix="unisync-training-index-") as tmp:
        for n in sizes:
            root = Path(tmp) / f"corpus_{n}"
            start = time.perf_counter()
            corpus = write_corpus(root, n)
            made = time.perf_counter() - start
            got = run_child([*child, "--child-kind", "index", "--child-arg", str(root)], Path(tmp) / f"index_{n}.json")
            steps = got["steps"]
            base = steps[0]["rss MB"]
            build = [s for s in steps if s["step"].startswith(("open_shards", "clip_table"))]
            table_step = next(s for s in steps if s["step"] == "clip_table(train)")
            index_rows.append({"clips": n, **corpus, "table rows": table_step["rows"],
                               "train windows": table_step["windows"], "simulate s": made,
                               "readers + tables s": sum(s["s"] for s in build),
                               "index MB (rss − after imports)": got["index rss MB"] - base,
                               "process peak MB": got["peak MB"]})
            for s in steps:
                step_rows.append({"clips": n, "step": s["step"], "s": s["s"], "rss MB": s["rss MB"],
                                  "+ MB": s["rss MB"] - base})
                base = s["rss MB"]
            for k, (a, b) in enumerate(zip(got["workers first"], got["workers last"])):
                worker_rows.append({"clips": n, "worker": k, "Rss MB": b["Rss"], "Pss MB": b["Pss"],
                                    "Private MB, first batch": a["Private"],
                                    f"Private MB, batch {args.batches}": b["Private"]})
            print(table(index_rows[-1:]), flush=True)
            shutil.rmtree(root)

        plan_rows, whole = [], {}
        for n in sizes:
            row = run_child(["--child-kind", "plan", "--child-arg", f"{n},{args.plan_pairs}"], Path(tmp) / "plan.json")
            row["µs per pair"] = 1e6 * row["s"] / row["pairs"]
            plan_rows.append({"run": f"{args.plan_pairs:,} pairs", **row})
            print(table(plan_rows[-1:]), flush=True)
        for n in [int(s) for s in args.epoch_sizes.split(",")]:
            whole[n] = run_child(["--child-kind", "plan", "--child-arg", f"{n},0"], Path(tmp) / "plan.json")
            whole[n]["µs per pair"] = 1e6 * whole[n]["s"] / whole[n]["pairs"]
            plan_rows.append({"run": "one epoch (a pair per window)", **whole[n]})
            print(table(plan_rows[-1:]), flush=True)

    per_pair = {r["clips"]: r["µs per pair"] for r in plan_rows if r["run"] != "one epoch (a pair per window)"}
    epoch_rows = []
    for row in index_rows:
        n = row["clips"]
        pairs = row["train windows"]
        measured = whole.get(n)
        epoch_rows.append({
            "clips": n, "pairs (train windows)": pairs, "plan arrays MB (6 × int64)": 48 * pairs / 2**20,
            "build s": measured["s"] if measured else pairs * per_pair[n] / 1e6,
            "peak + MB": measured["peak + MB"] if measured else float("nan"),
            "figures": "measured" if measured else f"time: pairs × µs per pair measured at {n:,} clips"})

    largest = max(index_rows, key=lambda r: r["clips"])
    intro = (f"Simulated corpora (see the script's docstring: real library code, simulated manifest and shards, "
             f"{CLIPS_PER_SHARD} clips a shard, ~{(PRETRAIN_SHARE * PRETRAIN_MEAN + (1 - PRETRAIN_SHARE) * MAIN_MEAN):.0f} "
             "frames a clip, all but 1.6 % of the clips in the train split). The index: trainer._train's steps up to its first loader "
             "in a fresh process; index MB is that process's resident memory after the tables and the "
             "WindowDataset minus after its imports (torch and the library).")
    text = "\n".join([
        intro, "", table(index_rows, floatfmt=".1f"), "",
        "**Steps** (resident MB after each, + MB over the step before):", "", table(step_rows, floatfmt=".1f"), "",
        (f"**DataLoader workers** ({args.workers}, fork): each worker's memory read from /proc after the first "
         f"batch and after batch {args.batches} (Private: pages the worker does not share with the training "
         "process; Pss: its proportional share of all it maps):"), "", table(worker_rows, floatfmt=".1f"), "",
        (f"**The epoch's plan** (`pairs.training_plan`, windows_per_epoch 0). Runs: {args.plan_pairs:,} pairs at "
         f"every size, and one whole epoch at {args.epoch_sizes.replace(',', ', ')} clips; peak + MB: the "
         "process's peak over its resident memory before the call:"), "",
        table(plan_rows, floatfmt=".1f"), "",
        "Per epoch at each size (sizes exact; time measured, or pairs × the µs per pair measured at that size):", "",
        table(epoch_rows, floatfmt=".1f"), "",
        (f"**At {largest['clips']:,} clips**: the index (readers, clip tables, dataset) "
         f"{largest['index MB (rss − after imports)']:,.0f} MB built in {largest['readers + tables s']:.0f} s; "
         f"the process peaked at {largest['process peak MB']:,.0f} MB with a {args.loader_pairs:,}-pair plan. "
         f"A whole epoch's plan adds {epoch_rows[-1]['plan arrays MB (6 × int64)']:,.0f} MB of arrays, built in "
         f"about {epoch_rows[-1]['build s'] / 60:,.0f} min of one core.")])
    print("\n" + text)
    if not args.no_record:
        write_section("training_index", "(i) The training windows' index at full size", text, info)


if __name__ == "__main__":
    main()
