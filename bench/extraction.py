"""(a) Extraction frames per second for each stage, on the real clips of ../shared/data/clips/real.

Each stage runs as its rule does (the library's extract_* function on one shard of clips, writing
its HDF5 shard) in a temporary folder, in order: audio, tracks, rgb, mel, then landmarks (dlib),
parsing (from the landmarks) and 3DMM (3DDFA_V2 mb05) where their models are found. Two sets:
**LRS2-sized** (the 160 × 160 lrs2_deepavsr_* clips, listed REPEAT times so there is enough to
time) and **all** real clips (160 × 160 up to 1920 × 1080). Frames are 25 fps video frames (audio
stages: seconds of audio × 25). For each stage: wall time, CPU time of the process and its
children (ffmpeg decodes in a child), frames per wall second and frames per CPU second — the rate
per core, which other jobs on a shared machine disturb far less than the wall-clock rate.

Target: tracks + rgb + mel together ≥ 100 frames per second per CPU core on LRS2-sized video, i.e.
frames / (CPU seconds of tracks + rgb + mel) ≥ 100.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import machine, real_clip_videos, table, verdict, write_section

TARGET = 100.0  # frames per CPU second, tracks + rgb + mel, LRS2-sized video
TARGET_STAGES = ("tracks", "rgb", "mel")
REPEAT = 5


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stage_runners(clips: pd.DataFrame, work: Path) -> dict:
    """stage → a function running it on the shard `000` of `clips` in `work`."""
    from unisync_model.extract.audio import extract_audio
    from unisync_model.extract.landmarks import extract_landmarks
    from unisync_model.extract.mel import extract_mel
    from unisync_model.extract.parsing import extract_parsing
    from unisync_model.extract.rgb import extract_rgb
    from unisync_model.extract.tdmm import extract_tdmm
    from unisync_model.extract.tracks import extract_tracks
    from unisync_model.settings import (LandmarksSettings, MelSettings, ParsingSettings, RgbSettings, TdmmSettings,
                                        TracksSettings)

    shard = lambda stage: work / stage / "000.h5"  # noqa: E731
    return {
        "audio": lambda: extract_audio(clips, shard("audio")),
        "tracks": lambda: extract_tracks(clips, shard("tracks"), TracksSettings()),
        "rgb": lambda: extract_rgb(clips, shard("tracks"), shard("rgb"), RgbSettings()),
        "mel": lambda: extract_mel(shard("audio"), shard("mel"), MelSettings()),
        "landmarks": lambda: extract_landmarks(clips, shard("tracks"), shard("landmarks"), LandmarksSettings()),
        "parsing": lambda: extract_parsing(clips, shard("tracks"), shard("landmarks"), shard("parsing"),
                                           ParsingSettings()),
        "tdmm": lambda: extract_tdmm(clips, shard("tracks"), shard("tdmm"), TdmmSettings()),
    }


def frames_written(work: Path, stage: str) -> int:
    """25 fps frames of the clips a stage wrote (audio stages: their seconds × 25)."""
    from unisync_model.io.av_timing import MEL_RATE
    from unisync_model.io.shards import ShardReader
    from unisync_model.io.av_timing import SAMPLES_PER_FRAME
    from unisync_model.settings import FPS

    reader = ShardReader(work / stage / "000.h5")
    total = sum(reader.length(c) for c in reader.clip_ids)
    return {"audio": total // SAMPLES_PER_FRAME, "mel": total * FPS // MEL_RATE}.get(stage, total)


def run_set(name: str, clips: pd.DataFrame, stages: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"unisync-bench-extract-{name}-") as tmp:
        runners = stage_runners(clips, Path(tmp))
        for stage in stages:
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            written, skipped = runners[stage]()
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            frames = frames_written(Path(tmp), stage)
            rows.append({"set": name, "stage": stage, "clips": written, "skipped": skipped, "frames": frames,
                         "wall s": wall, "CPU s": cpu, "frames/s": frames / wall, "frames/CPU s": frames / cpu})
            print(table(rows[-1:]), flush=True)
    return rows


def clip_table(paths: list[Path], repeat: int = 1) -> pd.DataFrame:
    return pd.DataFrame([{"clip_id": f"{p.stem}__{k}" if repeat > 1 else p.stem, "path": str(p),
                          "audio_path": str(p)} for k in range(repeat) for p in paths])


def available_stages(wanted: list[str]) -> list[str]:
    """The stages asked for whose model files are found here (the others are listed and left out)."""
    from unisync_model.extract.landmarks import dlib_weights_path
    from unisync_model.io.weights import resolve
    from unisync_model.settings import LandmarksSettings, TdmmSettings

    checks = {"tracks": lambda: resolve("face_detection_yunet_2023mar.onnx"),
              "landmarks": lambda: dlib_weights_path(LandmarksSettings().dlib_weights),
              "tdmm": lambda: (resolve(TdmmSettings().weights), resolve(TdmmSettings().mean_std))}
    checks["rgb"] = checks["tracks"]
    checks["parsing"] = checks["landmarks"]
    kept = []
    for stage in wanted:
        try:
            checks.get(stage, lambda: None)()
            kept.append(stage)
        except Exception as err:  # a missing model file: say so, measure the rest
            print(f"{stage}: left out ({type(err).__name__}: {err})", file=sys.stderr)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=["audio", "tracks", "rgb", "mel", "landmarks", "parsing", "tdmm"])
    parser.add_argument("--sets", nargs="+", default=["lrs2", "all"], choices=["lrs2", "all"])
    parser.add_argument("--repeat", type=int, default=REPEAT, help="times the LRS2 clips are listed")
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    videos = real_clip_videos()
    info = machine()
    stages = available_stages(args.stages)
    sets = {"lrs2": clip_table([p for p in videos if p.name.startswith("lrs2_")], args.repeat),
            "all": clip_table(videos)}
    rows = [row for name in args.sets for row in run_set(name, sets[name], stages)]
    text = table(rows)
    print("\n" + text)

    summary, result = [], "not measured (the LRS2 set or one of tracks, rgb, mel was left out)"
    for name in args.sets:
        chain = [r for r in rows if r["set"] == name and r["stage"] in TARGET_STAGES]
        if len(chain) == len(TARGET_STAGES):
            frames = chain[0]["frames"]  # the same clips
            cpu, wall = sum(r["CPU s"] for r in chain), sum(r["wall s"] for r in chain)
            summary.append({"set": name, "frames": frames, "CPU s": cpu, "wall s": wall,
                            "frames/CPU s": frames / cpu, "frames/s (wall)": frames / wall})
            if name == "lrs2":
                result = verdict(frames / cpu, TARGET, "frames per CPU second")
    summed = table(summary)
    print("\ntracks + rgb + mel:\n" + summed)
    if args.no_record:
        return
    lrs2 = sets["lrs2"]
    body = (f"Stages run one after another in one process on one shard, as `unisync <stage>` does; the LRS2-sized "
            f"set is the {lrs2['path'].nunique()} lrs2_deepavsr_* clips (160 × 160) listed {args.repeat} times, "
            f"'all' is the {len(sets['all'])} real clips once (160 × 160 to 1920 × 1080, 0.9 s to 60 s). "
            f"Frames: 25 fps video frames (audio and mel: seconds × 25). CPU s: this process and its children "
            f"(ffmpeg, ffprobe). Each stage's time includes what a rule pays once per shard (loading YuNet, dlib's "
            f"predictor, 3DDFA_V2's weights), not Python's imports.\n\n{text}\n\n**tracks + rgb + mel together**:\n\n{summed}\n\n"
            f"**Target** ≥ {TARGET:.0f} frames per second per CPU core on LRS2-sized video — {result}.\n")
    write_section("extraction", "(a) Extraction: frames per second per stage", body, info)


if __name__ == "__main__":
    main()
