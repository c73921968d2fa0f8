"""A stage killed halfway (SIGKILL: no cleanup runs) leaves no finished-looking file, and running it
again produces exactly the shard an uninterrupted run produces."""
from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import venv_env
from helpers.bad_inputs import face_clip, face_image, ffmpeg

CLIPS = 12  # face clips in the first attempt; doubled whenever a stage ends before it can be killed
ATTEMPTS = 4


def unisync(*args, cwd: Path) -> None:
    result = subprocess.run(["unisync", *map(str, args)], cwd=cwd, env=venv_env(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"unisync {args[0]} failed:\n{result.stderr[-3000:]}"


def timed_run(cmd: list[str], out: Path, cwd: Path) -> float:
    """Run a stage to completion; the seconds from its <out>.tmp appearing to its renaming to <out> (its
    working time: the interpreter's exit after the rename is not part of it, or half of it could fall
    after the file is final)."""
    tmp = out.with_name(out.name + ".tmp")
    process = subprocess.Popen(cmd, cwd=cwd, env=venv_env(), stderr=subprocess.PIPE, text=True)
    appeared = finished = None
    while process.poll() is None:
        now = time.monotonic()
        if appeared is None and tmp.exists():
            appeared = now
        if appeared is not None and finished is None and out.exists():
            finished = now
        time.sleep(0.01)
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr[-3000:]
    assert out.is_file() and not tmp.exists()
    end = finished or time.monotonic()
    return end - (appeared or end)


def kill_halfway(cmd: list[str], out: Path, cwd: Path, working_seconds: float) -> bool:
    """Start a stage and SIGKILL it once its <out>.tmp has existed for half the working time of an
    uninterrupted run. False if it finished first. (The .tmp's size is no signal: HDF5 caches small
    datasets such as tracks in memory until the file is closed.)"""
    tmp = out.with_name(out.name + ".tmp")
    process = subprocess.Popen(cmd, cwd=cwd, env=venv_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    appeared = None
    while process.poll() is None:
        now = time.monotonic()
        if appeared is None and tmp.exists():
            appeared = now
        if appeared is not None and out.exists():  # renamed already: only the interpreter's exit is left
            process.wait()
            return False
        if appeared is not None and now - appeared >= working_seconds / 2:
            process.send_signal(signal.SIGKILL)
            # it may have finished between the poll and the signal: then it was not killed
            return process.wait() == -signal.SIGKILL
        time.sleep(0.01)
    return False


def shard_contents(path: Path) -> dict:
    """Every dataset (data, offsets, clip ids, skipped records, …) and attribute of a shard file."""
    with h5py.File(path, "r") as f:
        return {"attrs": dict(f.attrs), **{name: f[name][()] for name in f}}


def assert_same_shard(a: Path, b: Path) -> None:
    first, second = shard_contents(a), shard_contents(b)
    assert sorted(first) == sorted(second)
    for key in ("data", "offsets", "clip_id", "skipped"):
        assert key in first, f"{a} has no {key!r}"
    for key in first:
        if key == "attrs":
            assert {k: str(v) for k, v in first[key].items()} == {k: str(v) for k, v in second[key].items()}
        else:
            assert first[key].shape == second[key].shape, key
            assert np.array_equal(first[key], second[key]), f"{key} differs between {a.name} and {b.name}"


def make_corpus(root: Path, clips: int, work: Path) -> None:
    """`clips` copies of one 2 s face clip and two clips without a face, one speaker folder each."""
    work.mkdir(parents=True, exist_ok=True)
    clip = face_clip(work / "face.mp4", face_image(work / "face.png"), seconds=2.0)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x160:rate=25:duration=2", "-f", "lavfi", "-i",
           "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           work / "noface.mp4")
    shutil.rmtree(root, ignore_errors=True)
    for k in range(clips):
        (root / f"spk{k:03d}").mkdir(parents=True)
        shutil.copy(clip, root / f"spk{k:03d}" / "clip.mp4")
    for k in range(2):
        (root / f"noface{k}").mkdir(parents=True)
        shutil.copy(work / "noface.mp4", root / f"noface{k}" / "clip.mp4")


def test_a_killed_stage_reruns_to_the_same_shards(tmp_path, yunet_weights):
    manifest = tmp_path / "clips.parquet"
    clips = CLIPS
    for attempt in range(ATTEMPTS):
        make_corpus(tmp_path / "corpus", clips, tmp_path / "work")
        unisync("manifest", "--recipe", "folder", "--root", tmp_path / "corpus", "--shards", 1, "--out", manifest,
                cwd=tmp_path)
        a, b = tmp_path / f"a{attempt}", tmp_path / f"b{attempt}"
        a.mkdir(), b.mkdir()

        def tracks(out: Path) -> list[str]:
            return ["unisync", "tracks", "--manifest", str(manifest), "--shard", "000", "--out", str(out)]

        def rgb(out: Path) -> list[str]:  # both runs crop along run A's tracks: only rgb itself is compared
            return ["unisync", "rgb", "--manifest", str(manifest), "--shard", "000", "--tracks",
                    str(a / "tracks.h5"), "--out", str(out)]

        killed_all = True
        for stage, command in (("tracks", tracks), ("rgb", rgb)):
            working = timed_run(command(a / f"{stage}.h5"), a / f"{stage}.h5", tmp_path)
            out = b / f"{stage}.h5"
            if not kill_halfway(command(out), out, tmp_path, working):
                killed_all = False
                break
            assert not out.exists(), f"a killed {stage} run left a final-looking {out.name}"
            assert out.with_name(out.name + ".tmp").exists()
            timed_run(command(out), out, tmp_path)  # the rerun starts over and replaces the .tmp
            assert_same_shard(a / f"{stage}.h5", out)
        if killed_all:
            return
        clips *= 2  # the stage outran the kill: give it more work
    pytest.fail(f"the stages finished before they could be killed, even with {clips // 2} clips")
