"""(h) A shard job's peak memory: the per-shard stages run through `unisync`, on shards of growing size.

For each shard size (--sizes clips) a simulated LRS2 tree is made with `unisync simulate-corpus` (every
clip a hard link to one of the real clips of ../shared/data/clips/real whose name starts with one of
--prefixes: by default the six LRS2-sized lrs2_deepavsr_* clips, 160 × 160, 0.9–5.6 s), listed with
`unisync manifest --shards 1` (every clip of the tree in shard 000; --sizes-out gives the shard's size as
the workflow sizes its jobs), and then the stages run one after another on that shard exactly as
workflow/rules/extract.smk runs them: `unisync audio|tracks|rgb|mel|landmarks --manifest … --shard 000
--settings <config.yaml's section> --out …`. Each command is its own process, started by a small Python
launcher that reports the child's rusage (os.wait4): peak resident memory (ru_maxrss) and wall time.

A stage holds one clip's data at a time when its peak memory stays flat as the shard grows: the table
"growth" compares the peak's increase from the smallest to the largest shard with the increase of the
shard's own data (what a stage that kept the whole shard in memory would add), and gives the rule's
mem_mb as the workflow would request it (config.yaml's job_sizes, corpora/planning.shard_job_mem_mb).

Target (issue 17): every stage's memory bounded by one clip's data, not the shard's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from common import REPO, machine, real_clip_videos, run_alone, table, write_section

UNISYNC = [sys.executable, "-m", "unisync_model"]
STAGES = ("audio", "tracks", "rgb", "mel", "landmarks")
SPLITS = ["pretrain", "train", "val", "test"]
SHARD = "000"
# Flat: between the two largest shards the peak grows by at most FLAT_MB_PER_100 MB per 100 clips, or by
# less than BOUNDED_SHARE of the shard's added data (a stage holding the whole shard grows by all of it).
BOUNDED_SHARE, FLAT_MB_PER_100 = 0.10, 2.0
FULL_SHARD = 750  # config.yaml's clips_per_shard: the shards `shards: auto` makes

def timed(command: list[str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command run in its own process, its output to `log`."""
    wall, peak_mb, status = run_alone(command, log)
    if status != 0:
        sys.exit(f"{' '.join(command[2:4])} failed ({status}); see {log}:\n{log.read_text()[-2000:]}")
    return wall, peak_mb


def stage_command(stage: str, work: Path, config: dict) -> list[str]:
    """`unisync <stage>` on shard 000 with the arguments extract.smk gives it."""
    shards, manifest = work / "shards", str(work / "clips.parquet")
    out = ["--out", str(shards / stage / f"{SHARD}.h5")]
    settings = ["--settings", json.dumps(config[stage], sort_keys=True)]
    if stage == "mel":
        return [*UNISYNC, "mel", "-q", "--audio", str(shards / "audio" / f"{SHARD}.h5"), *settings, *out]
    tracks = ["--tracks", str(shards / "tracks" / f"{SHARD}.h5")] if stage in ("rgb", "landmarks") else []
    return [*UNISYNC, stage, "-q", "--manifest", manifest, "--shard", SHARD, *tracks, *settings, *out]


def shard_facts(path: Path) -> dict:
    """What the stage wrote: clips, skipped, frames, and the bytes of its largest clip and of the shard's data."""
    from unisync_model.io.shards import ShardReader
    reader = ShardReader(path)
    lengths = [reader.length(c) for c in reader.clip_ids]
    frame_bytes = reader.dtype.itemsize * math.prod(reader.frame_shape)
    return {"written": len(lengths), "skipped": len(reader.skipped), "rows": sum(lengths),
            "largest clip MB": max(lengths, default=0) * frame_bytes / 2**20,
            "shard data MB": sum(lengths) * frame_bytes / 2**20}


def requested_mb(stage: str, sizes_json: Path, config: dict) -> int:
    """The rule's mem_mb as the workflow asks for it from the manifest's shard sizes (first attempt)."""
    from unisync_model.corpora.planning import shard_job_mem_mb
    size = json.loads(sizes_json.read_text())[SHARD]
    return shard_job_mem_mb(size, config["job_sizes"]["shard_rules"][stage])


def one_size(clips: int, sources: Path, tmp: Path, config: dict, stages: list[str]) -> list[dict]:
    work = tmp / f"shard_{clips}"
    root = work / "corpus"
    subprocess.run([*UNISYNC, "-q", "simulate-corpus", str(root), "--layout", "lrs2", "--clips", str(clips),
                    "--sources", str(sources)], cwd=REPO, check=True)
    sizes = work / "shard_sizes.json"
    subprocess.run([*UNISYNC, "-q", "manifest", "--recipe", "lrs2", "--root", str(root), "--shards", "1",
                    "--options", json.dumps({"splits": SPLITS}), "--threads", "1",
                    "--out", str(work / "clips.parquet"), "--sizes-out", str(sizes)], cwd=REPO, check=True)
    rows = []
    for stage in stages:
        wall, peak = timed(stage_command(stage, work, config), work / f"{stage}.log")
        facts = shard_facts(work / "shards" / stage / f"{SHARD}.h5")
        row = {"stage": stage, "shard clips": clips, **facts, "peak MB": peak,
               "mem_mb requested": requested_mb(stage, sizes, config), "wall s": wall,
               "wall ms per clip": 1000 * wall / max(clips, 1)}
        print(table([row], floatfmt=".2f"), flush=True)
        rows.append(row)
    return rows


def growth(rows: list[dict], stages: list[str]) -> list[dict]:
    """Per stage, over its shard sizes: how much the peak grew against how much the shard's data grew,
    the growth per 100 clips between its two largest shards, and the peak a shard of FULL_SHARD clips
    would reach if that growth went on linearly (an upper bound: caches level off) against the rule's mem_mb."""
    out = []
    for stage in stages:
        mine = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["shard clips"])
        a, b, c = mine[0], mine[-2], mine[-1]
        last_clips = c["shard clips"] - b["shard clips"]
        per_100 = 100 * (c["peak MB"] - b["peak MB"]) / last_clips
        data_per_100 = 100 * (c["shard data MB"] - b["shard data MB"]) / last_clips
        at_full = c["peak MB"] + max(0.0, per_100) * (FULL_SHARD - c["shard clips"]) / 100
        flat = per_100 <= FLAT_MB_PER_100 or per_100 <= BOUNDED_SHARE * data_per_100
        out.append({"stage": stage, "clips": " → ".join(str(r["shard clips"]) for r in mine),
                    "peak MB": " → ".join(f"{r['peak MB']:.0f}" for r in mine),
                    "peak + MB": c["peak MB"] - a["peak MB"], "shard data + MB": c["shard data MB"] - a["shard data MB"],
                    "largest clip MB": max(r["largest clip MB"] for r in mine),
                    "peak + MB per 100 clips, two largest": per_100,
                    "shard data MB per 100 clips, two largest": data_per_100,
                    f"peak at {FULL_SHARD} clips, linear MB": at_full, "mem_mb requested": c["mem_mb requested"],
                    "wall ms per added clip": 1000 * (c["wall s"] - a["wall s"]) / (c["shard clips"] - a["shard clips"]),
                    "memory against the shard's clips": "flat" if flat else f"grows {per_100:.1f} MB per 100 clips"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,40,160", help="Clips per shard (one simulated LRS2 tree each).")
    parser.add_argument("--prefixes", default="lrs2_",
                        help="Which real clips the trees link to, by name prefix (e.g. lrs2_,vox_).")
    parser.add_argument("--stages", default=",".join(STAGES), help="Stages, in order (mel reads audio; rgb and "
                        "landmarks read tracks).")
    parser.add_argument("--extra-sizes", default="640", help="Larger shards for the stages of --extra-stages only.")
    parser.add_argument("--extra-stages", default="audio,mel", help="Stages without tracks, cheap enough for them.")
    parser.add_argument("--no-record", action="store_true", help="Print only; leave RESULTS.md alone.")
    args = parser.parse_args()
    videos = [v for v in real_clip_videos() if v.name.startswith(tuple(args.prefixes.split(",")))]
    if not videos:
        sys.exit(f"no real clip starts with {args.prefixes}")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    stages = args.stages.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = [int(s) for s in args.extra_sizes.split(",") if s]
    extra_stages = [s for s in args.extra_stages.split(",") if s in stages] if extra else []
    info = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="unisync-shard-memory-") as tmp:
        sources = Path(tmp) / "sources"
        sources.mkdir()
        for video in videos:  # the tree's sources: only the chosen clips
            try:
                os.link(video, sources / video.name)
            except OSError:  # another file system
                os.symlink(video, sources / video.name)
        for clips in sizes:
            rows += one_size(clips, sources, Path(tmp), config, stages)
        for clips in extra:
            rows += one_size(clips, sources, Path(tmp), config, extra_stages)
    grown = growth(rows, stages)
    met = all(g[f"peak at {FULL_SHARD} clips, linear MB"] <= g["mem_mb requested"] for g in grown)
    intro = (f"Simulated LRS2 trees (`unisync simulate-corpus --layout lrs2`) of links to the {len(videos)} real "
             f"clips {', '.join(v.name for v in videos)}, one shard each (`unisync manifest --shards 1`, every split "
             "listed); each stage run as extract.smk runs it (`unisync <stage> --manifest … --shard 000 --settings "
             "<config.yaml section> --out …`), one process per run. Peak MB: that process's maximum resident set "
             "(rusage through a launcher); wall s includes Python's imports and loading the models (YuNet, "
             "dlib's predictor). Largest clip / shard data MB: the stage's output arrays of its longest clip / of "
             "the whole shard; rows: the shard's rows (audio: samples at 16 kHz, mel: 80 Hz frames, the visual "
             "stages: 25 fps frames). mem_mb requested: what the rule asks SLURM for this shard (config.yaml's "
             f"job_sizes, from the longest clip). The larger shard{'s' if len(extra) > 1 else ''} "
             f"({', '.join(str(n) for n in extra) or 'none'} clips) run{'' if len(extra) > 1 else 's'} only "
             f"{', '.join(extra_stages) or '-'}, which need no tracks.")
    text = "\n".join([intro, "", table(rows, floatfmt=".2f"), "",
                      (f"**Growth** with the shard's clips (flat: ≤ {FLAT_MB_PER_100:.0f} MB per 100 clips between "
                       f"the two largest shards, or < {BOUNDED_SHARE:.0%} of the shard data they add; wall ms per "
                       "added clip: the time per clip without the run's fixed start-up):"), "",
                      table(grown, floatfmt=".2f"), "",
                      (f"**Target** every stage's memory bounded by one clip's data, not the shard's: at a full "
                       f"{FULL_SHARD}-clip shard, even if each stage's last growth went on linearly, every peak stays "
                       f"under the mem_mb its rule requests from the longest clip — {'MET' if met else 'MISSED'}.")])
    print("\n" + text)
    if not args.no_record:
        write_section("shard_memory", "(h) A shard job's peak memory against the shard's size", text, info)


if __name__ == "__main__":
    main()
