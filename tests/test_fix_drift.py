"""`unisync fix` with a linear drift, checked without any scorer: a real 60 s clip whose audio runs
0.3 % fast (tests/helpers/av_edits.speed_audio), fixed with the true rate, must be heard where the
original was, at the start and at the end (envelope cross-correlation, within a 25 fps frame); the
opposite sign must make it worse.

The rate, derived: audio `factor` times fast plays a sound due at video time t at t / factor, that is
t·(1 − 1/factor) early. Early audio *leads* the video, a positive offset (syncnet_python's sign), and
the lead grows by 60 s × (1 − 1/factor) per minute: R = 60000·(1 − 1/1.003) = +179.46 ms per minute,
the ≈ +180 of "0.3 % fast" (R > 0: the audio runs fast). fix.stretch_ratio(R) = 1/(1 − R/60000) is then
exactly `factor`."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import SHARED
from helpers.av_edits import audio_lag, delay_audio, speed_audio, streams
from test_av_edits import video_md5

from unisync_model.cli import main
from unisync_model.io.media import MediaError, audio_samples
from unisync_model.scoring import fix, videos
from unisync_model.scoring.fix import FixError, fix_video
from unisync_model.scoring.over_time import DriftLine

REAL = SHARED / "data" / "clips" / "real"
pytestmark = pytest.mark.skipif(not (REAL.parent / "manifest.csv").is_file(),
                                reason=f"needs the real clips of {REAL} (../shared absent)")
LONG = REAL / "edtalk_pose_source2_TedLieu.mp4"  # 60 s: the longest real clip
FACTOR = 1.003
RATE = 60000 * (1 - 1 / FACTOR)  # +179.46 ms per minute (module docstring)
FRAME = 0.040  # s
START, END = 4.0, 54.0  # centres of the 6 s windows compared


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """LONG with its audio 0.3 % fast, and the original audio."""
    return speed_audio(LONG, tmp_path_factory.mktemp("drift") / "fast.mp4", FACTOR), audio_samples(LONG)


def lags(original, path) -> tuple[float, float]:
    heard = audio_samples(path)
    found = [audio_lag(original, heard, centre, window=6.0) for centre in (START, END)]
    assert min(lag.peak for lag in found) > 0.8, found  # the windows really matched
    return found[0].seconds, found[1].seconds


def test_the_derived_rate_undoes_the_speed_up():
    assert RATE == pytest.approx(179.46, abs=0.01)
    assert fix.stretch_ratio(RATE) == pytest.approx(FACTOR, rel=1e-12)
    for rate in (48000, 44100, 16000):
        _, ratio = fix.stretch_filter(rate, fix.stretch_ratio(RATE))
        assert abs(ratio / FACTOR - 1) < 2e-6  # within 0.12 ms per minute


def test_fix_with_the_true_rate_is_in_sync_at_start_and_end(fast, tmp_path):
    video, original = fast
    before = lags(original, video)
    assert before[1] < -0.14  # the audio leads more and more: ~ −150 ms by 54 s
    record = fix_video(video, tmp_path / "fixed.mp4", offset_frames=0, drift_ms_per_min=RATE)
    assert record["drift_ms_per_min"] == RATE and record["drift_from"] == "given"
    assert record["audio_codec"].startswith("re-encoded") and record["video_codec"] == "copied"
    after = lags(original, tmp_path / "fixed.mp4")
    assert max(map(abs, after)) <= FRAME, (before, after)
    assert max(map(abs, after)) <= 0.005, after  # in fact within a few ms
    assert video_md5(tmp_path / "fixed.mp4") == video_md5(LONG)  # the video stream copied
    assert abs(streams(tmp_path / "fixed.mp4")["audio"]["duration"] - streams(LONG)["audio"]["duration"]) < 0.05


def test_the_wrong_sign_makes_it_worse(fast, tmp_path):
    video, original = fast
    before = lags(original, video)
    fix_video(video, tmp_path / "wrong.mp4", offset_frames=0, drift_ms_per_min=-RATE)
    after = lags(original, tmp_path / "wrong.mp4")
    assert after[1] < 1.8 * before[1] < -0.25, (before, after)  # twice the lead at the end, not none


def test_offset_at_the_start_and_drift_together(fast, tmp_path):
    """Audio 0.3 % fast and starting 0.4 s late: at t = 0 it lags by 10 frames (offset −10), then
    catches up. --offset −10 with the rate puts it back."""
    video, original = fast
    late = delay_audio(video, tmp_path / "late.mp4", 0.4)
    fixed = tmp_path / "fixed.mkv"  # and through the re-encoding of another container (FLAC in Matroska)
    record = fix_video(late, fixed, offset_frames=-10, drift_ms_per_min=RATE)
    assert record["audio"] == "advanced" and "flac" == streams(fixed)["audio"]["codec_name"]
    after = lags(original, fixed)
    assert max(map(abs, after)) <= FRAME, after


def test_measured_drift_comes_from_the_scorers_result(fast, tmp_path, monkeypatch):
    """--drift takes the line the score measured (stubbed: this checks fix, not a measurement): its rate,
    and its offset at the start; without a steady drift, a clear error."""
    video, original = fast
    seconds = streams(video)["video"]["duration"]
    mid = RATE * seconds / 2 / 60 / 40  # the pooled offset a drifting video reads: its mid-video one (≈ +2.2)
    line = DriftLine(rate_ms_per_min=RATE, change_frames=2 * mid, inliers=1.0, windows=20, drift=True, intercept=0.0)
    measured = SimpleNamespace(ok=True, offset=round(mid), drift=line, scorer="stub", confidence=1.0,
                               min_dist=0.1, reason="")
    monkeypatch.setattr(videos, "score_video", lambda *args, **kwargs: measured)
    record = fix_video(video, tmp_path / "fixed.mp4", scorer=object(), measured_drift=True)
    assert record["drift_from"] == "measured" and abs(record["offset_frames"]) < 1e-9, record
    assert record["drift_ms_per_min"] == RATE and record["detected_offset_frames"] == round(mid)
    assert max(map(abs, lags(original, tmp_path / "fixed.mp4"))) <= FRAME

    steady_but_small = DriftLine(40.0, 0.5, 1.0, 20, False)
    for no_drift in ({}, {"drift": None}, {"drift": steady_but_small}):
        monkeypatch.setattr(videos, "score_video", lambda *args, extra=no_drift, **kwargs: SimpleNamespace(
            ok=True, offset=0, scorer="stub", confidence=1.0, min_dist=0.1, reason="", **extra))
        with pytest.raises(FixError, match="no drift measured"):
            fix_video(video, tmp_path / "none.mp4", offset_frames=0, scorer=object(), measured_drift=True)
        assert not (tmp_path / "none.mp4").exists()
    with pytest.raises(FixError, match=r"no drift measured by the stub scorer: .*\+40\.0 ms per minute, not steadily"):
        fix.measured_line(SimpleNamespace(drift=steady_but_small, scorer="stub"), "v.mp4")


def test_cli_drift_options(fast, tmp_path, monkeypatch):
    video, original = fast
    run = CliRunner().invoke(main, ["fix", str(video), "--out", str(tmp_path / "cli.mp4"), "--offset", "0",
                                    "--drift-ms-per-min", f"{RATE}"])
    assert run.exit_code == 0, run.output
    assert max(map(abs, lags(original, tmp_path / "cli.mp4"))) <= FRAME
    both = CliRunner().invoke(main, ["fix", str(video), "--out", str(tmp_path / "x.mp4"), "--drift",
                                     "--drift-ms-per-min", "180"])
    assert both.exit_code == 2 and "not both" in both.output
    monkeypatch.setattr(videos, "score_video", lambda *args, **kwargs: SimpleNamespace(
        ok=True, offset=0, scorer="training-free", confidence=1.0, min_dist=0.1, reason=""))
    none = CliRunner().invoke(main, ["fix", str(video), "--out", str(tmp_path / "x.mp4"), "--offset", "0", "--drift"])
    assert none.exit_code == 1 and "no drift measured" in none.output, none.output


def test_bad_rates_and_failed_writes_leave_nothing(fast, tmp_path, monkeypatch):
    video, _ = fast
    for rate in (math.nan, math.inf, 7000.0, -60000.0):
        with pytest.raises(FixError, match="ms per minute"):
            fix_video(video, tmp_path / "x.mp4", offset_frames=0, drift_ms_per_min=rate)

    def half_written(cmd):
        with open(cmd[-1].removeprefix("file:"), "wb") as part:
            part.write(b"half")
        raise MediaError("ffmpeg failed: killed")

    monkeypatch.setattr(fix, "run", half_written)
    with pytest.raises(FixError, match="could not write"):
        fix_video(video, tmp_path / "x.mp4", offset_frames=0, drift_ms_per_min=RATE)
    assert list(tmp_path.iterdir()) == []


def test_no_drift_is_the_plain_shift(fast, tmp_path):
    """Rate 0 changes nothing of the constant fix: the audio is stream-copied as before."""
    video, _ = fast
    record = fix_video(video, tmp_path / "plain.mp4", offset_frames=5, drift_ms_per_min=0.0)
    assert record["audio_codec"] == "copied" and record["audio_stretch"] == 1.0 and record["drift_from"] == "none"
    assert np.isclose(record["offset_ms"], 200.0)
