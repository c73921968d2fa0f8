"""A corpus at full size made of a few real files: LRS2's or CN-CVS's layout and lists, every clip a
hard link (else a symbolic link, else a copy) to one of a few hundred small videos.

Listing, probing and planning 150,000 clips is real work on such a tree (every name is a file the probe
opens), while the disk holds only the source files: the benchmarks and a test measure the
workflow's planning and manifest at the size of the real corpora without them. Names, splits and
clips per video or speaker follow the real corpora's proportions; which source a clip links to is a
seeded draw, so a tree is the same on every run.
"""
from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections import Counter
from pathlib import Path

from unisync_model.io.media import VIDEO_EXTENSIONS

# LRS2's published list sizes (pretrain 96,318, train 45,839, val 1,082, test 1,243 = 144,482 clips)
LRS2_SPLITS = {"pretrain": 96_318, "train": 45_839, "val": 1_082, "test": 1_243}
LRS2_CLIPS_PER_VIDEO = (1, 9)  # drawn uniformly per video
CNCVS_CLIPS_PER_SPEAKER = {"news": (20, 120), "speech": (5, 40)}
CNCVS_SHARE = {"news": 60, "speech": 40}  # per cent of the clips


@dataclasses.dataclass
class SimulatedCorpus:
    root: Path
    clips: int
    links: Counter  # how each clip was made: hard link, symlink or copy


def source_videos(folder: str | Path) -> list[Path]:
    """Every video file under `folder` (sorted, so a seed gives the same tree everywhere)."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not found:
        raise FileNotFoundError(f"no video files under {folder} to simulate a corpus with")
    return found


def link(source: Path, target: Path) -> str:
    """`target` as a hard link to `source`; a symbolic link where hard links fail (another file system,
    the link limit of one inode), a copy where both do. Returns which one it made."""
    try:
        os.link(source, target)
        return "hard link"
    except OSError:
        pass
    try:
        os.symlink(source.resolve(), target)
        return "symlink"
    except OSError:
        shutil.copyfile(source, target)
        return "copy"


def _split_counts(clips: int, shares: dict[str, int]) -> dict[str, int]:
    """`clips` spread over the keys in proportion to `shares`, each at least one, adding up exactly."""
    total = sum(shares.values())
    counts = {k: max(1, clips * v // total) for k, v in shares.items()}
    largest = max(counts, key=counts.get)
    counts[largest] += clips - sum(counts.values())
    return counts


def _empty_root(root: Path) -> Path:
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; a simulated corpus is written into a new folder")
    root.mkdir(parents=True, exist_ok=True)
    return root


def simulate_lrs2(root: str | Path, clips: int, sources: list[Path], seed: int = 0) -> SimulatedCorpus:
    """LRS2's tree, mvlrs_v1/{pretrain,main}/<video id>/<NNNNN>.mp4, and its four filelists (one test line
    in ten marked NF or MV, as the real list marks some), with `clips` clips in all."""
    root, rng, links = _empty_root(Path(root)), random.Random(seed), Counter()
    if clips < len(LRS2_SPLITS):
        raise ValueError(f"an LRS2 tree needs at least {len(LRS2_SPLITS)} clips (one per list)")
    video = 0
    for split, count in _split_counts(clips, LRS2_SPLITS).items():
        folder = root / "mvlrs_v1" / ("pretrain" if split == "pretrain" else "main")
        lines = []
        while len(lines) < count:
            video += 1
            video_id = str(5_000_000_000_000_000_000 + video * 7_919)
            (folder / video_id).mkdir(parents=True)
            for k in range(1, min(rng.randint(*LRS2_CLIPS_PER_VIDEO), count - len(lines)) + 1):
                links[link(rng.choice(sources), folder / video_id / f"{k:05d}.mp4")] += 1
                mark = {0: " NF", 10: " MV"}.get(len(lines) % 20, "") if split == "test" else ""
                lines.append(f"{video_id}/{k:05d}{mark}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SimulatedCorpus(root, clips, links)


def simulate_cncvs(root: str | Path, clips: int, sources: list[Path], seed: int = 0) -> SimulatedCorpus:
    """CN-CVS's tree, {news,speech}/<speaker>/video/<name>.mp4 (the audio inside the mp4: the recipe
    falls back to it without a .wav), with `clips` clips in all and many clips per speaker."""
    root, rng, links = _empty_root(Path(root)), random.Random(seed), Counter()
    if clips < len(CNCVS_SHARE):
        raise ValueError(f"a CN-CVS tree needs at least {len(CNCVS_SHARE)} clips (one per subset)")
    for subset, count in _split_counts(clips, CNCVS_SHARE).items():
        made, speaker = 0, 0
        while made < count:
            speaker += 1
            folder = root / subset / f"{subset[0]}{speaker:05d}" / "video"
            folder.mkdir(parents=True)
            for k in range(min(rng.randint(*CNCVS_CLIPS_PER_SPEAKER[subset]), count - made)):
                links[link(rng.choice(sources), folder / f"{subset[0]}{speaker:05d}_{k:05d}.mp4")] += 1
                made += 1
    return SimulatedCorpus(root, clips, links)


def simulate_folder(root: str | Path, clips: int, sources: list[Path], seed: int = 0) -> SimulatedCorpus:
    """A plain folder of videos for the folder recipe (e.g. `score_all`): <root>/<person>/<name>.mp4,
    100 videos a folder."""
    root, rng, links = _empty_root(Path(root)), random.Random(seed), Counter()
    for k in range(clips):
        folder = root / f"person{k // 100:05d}"
        if k % 100 == 0:
            folder.mkdir()
        links[link(rng.choice(sources), folder / f"video{k:06d}.mp4")] += 1
    return SimulatedCorpus(root, clips, links)


LAYOUTS = {"lrs2": simulate_lrs2, "cncvs": simulate_cncvs, "folder": simulate_folder}


def simulate_corpus(layout: str, root: str | Path, clips: int, sources: str | Path, seed: int = 0) -> SimulatedCorpus:
    """A simulated corpus of `layout` (lrs2, cncvs or folder) from the videos under `sources`."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {sorted(LAYOUTS)}")
    return LAYOUTS[layout](root, clips, source_videos(sources), seed)
