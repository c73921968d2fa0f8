"""syncnet_python's whole-frame protocol (`unisync score --scorer syncnet --protocol syncnet_python`)
against syncnet_python's own numbers (../shared/fixtures/syncnet_python: its README says how they were
made), with weights rebuilt from the rule that README states; and what the protocol refuses."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from helpers import SHARED, SMALL_REAL_CLIPS, TEST_CLIPS, venv_env

FIXTURE = SHARED / "fixtures" / "syncnet_python"
CLIPS = SHARED / "data" / "clips" / "real"
RTOL = 1e-4  # the README's precision: syncnet_python computes in float32, one window at a time
needs_fixture = pytest.mark.skipif(
    not (FIXTURE / "reference.json").is_file(),
    reason=f"needs syncnet_python's reference numbers in {FIXTURE} (../shared or its fixture is absent)")


def fixture_state() -> dict[str, torch.Tensor]:
    """SyncNetS's state dict filled from each key's name, exactly as the fixture's README says."""
    from unisync_model.model.syncnet import SyncNetS
    state = {}
    for name, tensor in SyncNetS().state_dict().items():
        if not tensor.is_floating_point():
            state[name] = torch.zeros_like(tensor)
            continue
        phase = (zlib.crc32(name.encode("utf-8")) % 1000) / 100
        s = np.sin(0.37 * np.arange(tensor.numel(), dtype=np.float64) + phase)
        if name.endswith("running_var"):
            values = 1 + 0.1 * s ** 2
        elif name.endswith("running_mean"):
            values = 0.1 * s
        elif tensor.ndim >= 2:
            values = s * math.sqrt(3 / (tensor.numel() / tensor.shape[0]))
        elif name.endswith(".weight"):
            values = 1 + 0.1 * s
        else:
            values = 0.1 * s
        state[name] = torch.from_numpy(values).to(tensor.dtype).reshape(tensor.shape)
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("syncnet_python") / "fixture_weights.model"
    torch.save(fixture_state(), path)
    return path


def unisync_score(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unisync_model", "score", *map(str, args)], env=venv_env(),
                          capture_output=True, text=True, timeout=900, check=False)


def score_protocol(paths, weights, out_dir, *flags) -> dict[str, dict]:
    """`unisync score … --protocol syncnet_python`: scores.json's video records by file name."""
    done = unisync_score(*paths, "--scorer", "syncnet", "--model", weights, "--protocol", "syncnet_python",
                         *flags, "--no-plots", "--out-dir", out_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return {record["video"].rsplit("/", 1)[-1]: record
            for record in json.loads((out_dir / "scores.json").read_text())["videos"]}


def max_relative(record: dict, reference: dict) -> float:
    curve, theirs = np.array(record["curve"], np.float64), np.array(reference["mean_dists"], np.float64)
    return float(np.max(np.abs(curve - theirs) / np.abs(theirs)))


@needs_fixture
def test_whole_frame_protocol_gives_syncnet_pythons_numbers(weights, tmp_path):
    reference = json.loads((FIXTURE / "reference.json").read_text())
    records = score_protocol([CLIPS / name for name in reference], weights, tmp_path, "--jpeg")
    for name, theirs in reference.items():
        ours = records[name]
        assert ours["status"] == "ok" and ours["segments"] == 1, ours
        assert ours["windows"] == theirs["frames"], name  # rows of syncnet_python's dists
        # scores.json's curve is syncnet_python's mean_dists, in its order (index j: offset 15 − j)
        assert len(ours["curve"]) == len(theirs["mean_dists"]) == 31
        assert max_relative(ours, theirs) <= RTOL, (name, max_relative(ours, theirs))
        assert ours["offset_frames"] == theirs["av_offset"], name
        assert ours["min_dist"] == pytest.approx(theirs["min_dist"], rel=RTOL), name
        # median − min of curves equal to RTOL (relative): equal to 2 · RTOL · the curve's scale
        assert abs(ours["confidence"] - theirs["confidence"]) <= 2 * RTOL * theirs["min_dist"], name


@needs_fixture
def test_the_comparison_sees_the_jpeg_round_trip(weights, tmp_path):
    """Without syncnet_python's JPEG frames the curve is off by more than the tolerance (the short clip:
    ~1.5e-3 relative, and its nearly symmetric curve then picks +15 instead of -15)."""
    reference = json.loads((FIXTURE / "reference.json").read_text())
    name = "vox_pcavs_Audio_Source_00086.mp4"
    ours = score_protocol([CLIPS / name], weights, tmp_path, "--no-jpeg")[name]
    assert ours["status"] == "ok" and ours["windows"] == reference[name]["frames"]
    assert max_relative(ours, reference[name]) > 10 * RTOL


def test_the_whole_frame_is_scored_without_tracking_faces(weights, monkeypatch):
    """The loader tracks no face for this protocol: one segment, every frame, syncnet_python's window count."""
    from unisync_model.extract import track_stream
    from unisync_model.scoring.scorers import scorer_from_settings
    from unisync_model.scoring.videos import score_video

    def no_tracking(*args, **kwargs):
        raise AssertionError("the whole-frame protocol must not track faces")

    monkeypatch.setattr(track_stream, "stream_tracks", no_tracking)
    scorer = scorer_from_settings("syncnet", weights, device=torch.device("cpu"), protocol="syncnet_python",
                                  jpeg=True)
    result = score_video(TEST_CLIPS / f"{SMALL_REAL_CLIPS[0]}.mp4", scorer)
    assert result.ok, result.reason
    assert [(s.first_frame, s.stop_frame) for s in result.segments] == [(0, result.frames)]
    assert result.segments[0].windows == result.frames - 5 and len(result.curve) == 31
    assert "demo_syncnet.py" in scorer.description and "JPEG" in scorer.description


def test_a_video_that_is_not_a_224_crop_goes_to_the_face_track_protocol_and_says_why_it_has_no_track(weights,
                                                                                                    tmp_path):
    """3 s at 160 × 160: run_pipeline.py's rules keep no track shorter than 100 frames; the reason says so
    (tests/test_syncnet_python_tracks.py scores longer videos that way)."""
    small = tmp_path / "face_160.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(TEST_CLIPS / f"{SMALL_REAL_CLIPS[0]}.mp4"),
                    "-vf", "scale=160:160", "-c:a", "copy", str(small)], check=True)
    done = unisync_score(small, "--scorer", "syncnet", "--model", weights, "--protocol", "syncnet_python",
                         "--no-plots", "--out-dir", tmp_path / "out")
    assert done.returncode == 1, done.stderr[-3000:]  # nothing scored
    record = json.loads((tmp_path / "out" / "scores.json").read_text())["videos"][0]
    assert record["status"] == "no score"
    assert "no face track as syncnet_python's run_pipeline.py keeps them" in record["reason"]
    assert "--protocol default" not in record["reason"] and "the default protocol" in record["reason"]
    assert "no score: no face track as syncnet_python's run_pipeline.py keeps them" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--scorer", "training-free", "--protocol", "syncnet_python"], "it needs --scorer syncnet"),
    (["--scorer", "syncnet", "--jpeg"], "--jpeg/--no-jpeg choose how --protocol syncnet_python"),
])
def test_protocol_usage_errors(tmp_path, args, message):
    done = unisync_score(TEST_CLIPS / f"{SMALL_REAL_CLIPS[0]}.mp4", *args, "--out-dir", tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert message in " ".join(done.stderr.split())
