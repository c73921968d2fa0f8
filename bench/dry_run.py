"""(f) Planning at full size: `snakemake -n` on simulated corpora of 5,000, 50,000 and 150,000 clips.

Each size is a fresh simulated tree (unisync_model/corpora/simulated.py: LRS2's layout and four lists,
pretrain included, and CN-CVS's), every clip a hard link to one of the videos under ../shared/data/clips
(in a clean clone without ../shared: the committed tests/data/clips). The dry run of train_all with
configs/lrs2.yaml (configs/cncvs.yaml) and `shards: auto` runs in its own process, timed from outside:
wall seconds and peak resident memory of that process (its rusage, as os.wait4 gives it), the best of
`--repeats` runs by wall time. Growth between sizes: the exponent k of time ∝ clips^k. Then the
`score_all` target over a folder of 10,000 videos (configs/score_folder.yaml) the same way, and the
time to generate each tree. Everything is written under a temporary folder and removed at the end.

Target: train_all's dry run on 150,000 clips in ≤ 2 minutes and ≤ 4 GB.
"""
from __future__ import annotations

import argparse
import itertools
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, SHARED, machine, run_alone, table, write_section

TARGET_SECONDS, TARGET_MB = 120.0, 4096.0
OVERLAYS = {"lrs2": "lrs2.yaml", "cncvs": "cncvs.yaml", "folder": "score_folder.yaml"}
OPTIONS = {"lrs2": {"splits": ["pretrain", "train", "val", "test"]}, "cncvs": {}, "folder": {}}
TARGETS = {"lrs2": "train_all", "cncvs": "train_all", "folder": "score_all"}


def sources() -> Path:
    """Where the simulated clips link to: the shared clips, else the committed test clips."""
    shared = SHARED / "data" / "clips"
    return shared if shared.is_dir() and any(shared.rglob("*.mp4")) else REPO / "tests" / "data" / "clips"


def generate(layout: str, root: Path, clips: int) -> float:
    from unisync_model.corpora.simulated import simulate_corpus
    start = time.perf_counter()
    simulate_corpus(layout, root, clips, sources(), seed=0)
    return time.perf_counter() - start


def planned(log: Path) -> dict[str, int]:
    stats = log.read_text().split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def dry_run(layout: str, root: Path, work: Path, repeats: int) -> dict:
    """The best of `repeats` dry runs of the layout's target on the tree at `root`."""
    work.mkdir(parents=True)
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    overlay = work / "corpus.yaml"
    overlay.write_text(yaml.safe_dump({"corpus": {"root": str(root), "shards": "auto", "options": OPTIONS[layout]}}))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work), "-n",
               TARGETS[layout], "--configfile", str(REPO / "configs" / OVERLAYS[layout]), str(overlay)]
    runs = []
    for k in range(repeats):
        wall, rss, status = run_alone(command, work / f"dry_run{k}.log")
        if status != 0:
            sys.exit(f"the dry run failed ({status}); see {work / f'dry_run{k}.log'}")
        runs.append((wall, rss, k))
    wall, rss, best = min(runs)
    jobs = planned(work / f"dry_run{best}.log")
    shard_rule = "score" if layout == "folder" else "audio"
    return {"wall s": wall, "wall s, runs": " / ".join(f"{w:.1f}" for w, _, _ in runs), "peak MB": rss,
            "shards": jobs.get(shard_rule, 0), "jobs": jobs.get("total", 0)}


def listing_seconds(layout: str, root: Path) -> float:
    """What the dry run spends reading the corpus: the planning's listing and shard counts, in-process."""
    from unisync_model.corpora.planning import plan_corpus
    recipe = "folder" if layout == "folder" else layout
    start = time.perf_counter()
    plan_corpus(recipe, root, OPTIONS[layout], "auto", 750)
    return time.perf_counter() - start


def growth(rows: list[dict], layout: str) -> list[dict]:
    """Between consecutive sizes of a layout: clips ×, wall ×, memory ×, and time's exponent."""
    mine = [r for r in rows if r["corpus"] == layout]
    out = []
    for a, b in itertools.pairwise(mine):
        ratio = b["clips"] / a["clips"]
        out.append({"corpus": layout, "clips": f"{a['clips']:,} → {b['clips']:,}", "clips ×": ratio,
                    "wall ×": b["wall s"] / a["wall s"], "peak memory ×": b["peak MB"] / a["peak MB"],
                    "time ∝ clips^k, k": math.log(b["wall s"] / a["wall s"]) / math.log(ratio)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,50000,150000", help="Clips per simulated corpus.")
    parser.add_argument("--layouts", default="lrs2,cncvs", help="Simulated corpora planned with train_all.")
    parser.add_argument("--score-videos", type=int, default=10_000, help="Videos in the folder for score_all.")
    parser.add_argument("--repeats", type=int, default=2, help="Dry runs per corpus (the fastest is kept).")
    parser.add_argument("--no-record", action="store_true", help="Print only; leave RESULTS.md alone.")
    args = parser.parse_args()
    info = machine()
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = [(layout, n) for layout in args.layouts.split(",") for n in sizes] + [("folder", args.score_videos)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="unisync-dry-run-") as tmp:
        for layout, clips in cases:
            root = Path(tmp) / f"{layout}_{clips}"
            made = generate(layout, root, clips)
            row = {"corpus": layout, "target": TARGETS[layout], "clips": clips, "generate s": made,
                   "listing s": listing_seconds(layout, root),
                   **dry_run(layout, root, Path(tmp) / f"work_{layout}_{clips}", args.repeats)}
            print(row, flush=True)
            rows.append(row)
            shutil.rmtree(root)
    where = sources().relative_to(REPO.parent) if sources().is_relative_to(REPO.parent) else sources()
    intro = (f"Simulated trees of links to {len(list(sources().rglob('*.mp4')))} videos under {where}; "
             f"`snakemake -n <target>` with configs/<corpus>.yaml, `shards: auto`; best of {args.repeats} runs "
             "by wall time (each run's beside it); peak MB: the snakemake process's maximum resident set. "
             "Listing s: the planning's read of the corpus alone (the recipe's listing and per-shard counts).")
    body = [intro, "", table(rows, floatfmt=".2f"), "",
            "**Growth** between sizes (k = 1: linear in the clips):", "",
            table([g for layout in args.layouts.split(",") for g in growth(rows, layout)], floatfmt=".2f")]
    largest = max((r for r in rows if r["target"] == "train_all"), key=lambda r: (r["clips"], r["wall s"]))
    met = largest["wall s"] <= TARGET_SECONDS and largest["peak MB"] <= TARGET_MB
    body += ["", (f"**Target** `snakemake -n train_all` on {largest['clips']:,} clips in ≤ {TARGET_SECONDS:.0f} s "
                  f"and ≤ {TARGET_MB / 1024:.0f} GB — {'MET' if met else 'MISSED'}: {largest['wall s']:.1f} s, "
                  f"{largest['peak MB']:,.0f} MB ({largest['corpus']}).")]
    text = "\n".join(body)
    print("\n" + text)
    if not args.no_record:
        write_section("dry_run", "(f) Planning at full size: dry runs on simulated corpora", text, info)


if __name__ == "__main__":
    main()
