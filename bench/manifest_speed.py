"""(g) The manifest's files per second per core: `build_manifest` on a simulated LRS2 corpus.

Builds, in a temporary folder, LRS2's layout and filelists (corpora/lrs2.py: mvlrs_v1/main/<video>/<clip>.mp4,
train/val/test.txt) with --files clips, each a hard link (a copy across file systems) to one of the shared
clips of ../shared/data/clips, in turn. Two corpora: **LRS2-sized** (the 160 × 160 lrs2_deepavsr_* clips)
and **all** the shared clips (real, real_muxed and generated: 160 × 160 up to 1920 × 1080). Then runs
`build_manifest("lrs2", …)` on each: the in-process probe (PyAV) serially, on threads and on processes
(--workers each), and the former path (media.IN_PROCESS off: an ffprobe subprocess per file, 4 threads as
before) on the first --old-files clips only (at ~90 ms a file the whole corpus would take minutes).
Files per CPU second (the process, its workers and their ffprobe children) is the rate per core, which
other jobs on a shared machine disturb far less than the wall-clock rate.

Target: ≥ 200 files per CPU second (issue 17), on the LRS2-sized corpus.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from common import SHARED, cores, machine, table, verdict, write_section

TARGET = 200.0  # files per CPU second
CLIPS = SHARED / "data" / "clips"
KINDS = ("real", "real_muxed", "generated")
CLIPS_PER_VIDEO = 8  # LRS2 holds a few clips per video id


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def shared_clips(lrs2_only: bool) -> list[Path]:
    from unisync_model.io.media import VIDEO_EXTENSIONS

    videos = sorted(p for kind in KINDS for p in (CLIPS / kind).glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    return [p for p in videos if p.name.startswith("lrs2_")] if lrs2_only else videos


def place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def simulated_lrs2(root: Path, sources: list[Path], files: int) -> Path:
    """An LRS2 tree of `files` clips cycling through `sources`, 80 / 10 / 10 % train / val / test."""
    names = [f"{6300000000000000000 + k // CLIPS_PER_VIDEO}/{k % CLIPS_PER_VIDEO + 1:05d}" for k in range(files)]
    for k, name in enumerate(names):
        place(sources[k % len(sources)], root / "mvlrs_v1" / "main" / f"{name}.mp4")
    cut = [0, int(files * 0.8), int(files * 0.9), files]
    for split, a, b in zip(("train", "val", "test"), cut, cut[1:]):
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in names[a:b]))
    return root


def keep_only(root: Path, files: int) -> Path:
    """The same tree with filelists naming its first `files` clips (for the slow former path)."""
    lines = [line for split in ("train", "val", "test") for line in (root / f"{split}.txt").read_text().splitlines()]
    small = root.with_name(root.name + f"-first{files}")
    small.mkdir(exist_ok=True)
    if not (small / "mvlrs_v1").exists():
        (small / "mvlrs_v1").symlink_to(root / "mvlrs_v1")
    (small / "train.txt").write_text("".join(f"{n}\n" for n in lines[:files]))
    for split in ("val", "test"):
        (small / f"{split}.txt").write_text("")
    return small


def run(root: Path, workers: int, pool: str, in_process: bool) -> tuple[int, float, float, str]:
    """(clips, wall s, CPU s, statuses) of one manifest of the corpus at `root`."""
    from unisync_model.corpora.manifest import build_manifest
    from unisync_model.io import media

    media.IN_PROCESS = in_process
    media._probed.clear()  # the cache would answer for clips already probed in this process
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    clips = build_manifest("lrs2", root, shards=16, threads=workers, pool=pool)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    media.IN_PROCESS = True
    counts = clips["status"].str.split(":").str[0].value_counts()
    return len(clips), wall, cpu, ", ".join(f"{n} {s}" for s, n in counts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="clips in each simulated corpus")
    parser.add_argument("--old-files", type=int, default=100, help="clips the former ffprobe path probes")
    parser.add_argument("--workers", type=int, default=cores(), help="workers of the threads and processes rows")
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if not CLIPS.is_dir():
        raise SystemExit(f"this benchmark needs the shared clips in {CLIPS}; it is absent here")
    info = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="unisync-bench-manifest-") as tmp:
        for name, lrs2_only in (("LRS2-sized (160 × 160)", True), ("all shared clips", False)):
            sources = shared_clips(lrs2_only)
            root = simulated_lrs2(Path(tmp) / ("lrs2" if lrs2_only else "all"), sources, args.files)
            run(keep_only(root, len(sources)), 1, "serial", True)  # warm the page cache: every source once
            plans = [("PyAV", "serial", 1, True, root), ("PyAV", "threads", args.workers, True, root),
                     ("PyAV", "processes", args.workers, True, root),
                     ("ffprobe (before)", "threads", 4, False, keep_only(root, args.old_files))]
            for probe, pool, workers, in_process, corpus in plans:
                n, wall, cpu, statuses = run(corpus, workers, pool, in_process)
                rows.append({"corpus": f"{name}, {len(sources)} sources", "probe": probe, "pool": pool,
                             "workers": workers, "files": n, "wall s": wall, "CPU s": cpu,
                             "files/s": n / wall, "files per CPU s": n / cpu, "statuses": statuses})
                print(table(rows[-1:]), flush=True)
    text = table(rows)
    print("\n" + text)
    best = max(r["files per CPU s"] for r in rows if r["corpus"].startswith("LRS2") and r["probe"] == "PyAV")
    result = verdict(best, TARGET, "files per CPU second")
    print(f"\nTarget ≥ {TARGET:.0f} files per CPU second on the LRS2-sized corpus — {result}")
    if args.no_record:
        return
    body = (f"`build_manifest(\"lrs2\", …)` on simulated LRS2 trees of {args.files} hard links to the shared clips "
            f"(the former ffprobe path on the first {args.old_files}); CPU s counts the process, its workers and "
            f"their ffprobe children.\n\n{text}\n\n**Target** ≥ {TARGET:.0f} files per CPU second on the LRS2-sized "
            f"corpus — {result}.\n")
    write_section("manifest_speed", "(g) manifest files per second per core", body, info)


if __name__ == "__main__":
    main()
