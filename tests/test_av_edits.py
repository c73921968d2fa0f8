"""The test media builders of tests/helpers/av_edits.py on real clips of ../shared/data/clips: the
streams and durations they write (ffprobe), and that the audio really moved where it should: a delay
is the same lag everywhere, audio 0.3 % fast is a lag that grows by 0.3 % of the time, and each part of
a side-by-side, a cut, music-before-speech and a loop is heard where it belongs."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from helpers import SHARED
from helpers.av_edits import (
    AvEditError,
    audio_lag,
    concat_cut,
    concat_loop,
    delay_audio,
    music_before,
    side_by_side,
    speed_audio,
    streams,
)

from unisync_model.io.media import audio_samples

REAL = SHARED / "data" / "clips" / "real"
pytestmark = pytest.mark.skipif(not (REAL.parent / "manifest.csv").is_file(),
                                reason=f"needs the real clips of {REAL} (../shared absent)")
LONG = REAL / "edtalk_pose_source2_TedLieu.mp4"  # 60 s, 256², 25 fps, 48 kHz stereo: the longest clip
TED = REAL / "lrs3_C8zY0oAdQrs_00018_crop224.mp4"  # 15.7 s, 224², 16 kHz
NEIL = REAL / "vox_pcavs_Audio_Source_681100216.mp4"  # 9.8 s, 224²
JAMIE = REAL / "vox_pcavs_Audio_Source_00086.mp4"  # 5.3 s, 224²
SONG = REAL / "liveportrait_d6_music.mp4"  # 33.7 s of a song, 480², 30 fps
MS = 0.003  # s: what the envelope lag is trusted to


def video_md5(path) -> str:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f",
                           "md5", "-"], check=True, capture_output=True, text=True).stdout.strip()


def test_delay_audio_moves_all_of_it_by_the_same_amount(tmp_path):
    out = delay_audio(TED, tmp_path / "delayed.mp4", 1.0)
    before, after = streams(TED), streams(out)
    assert video_md5(out) == video_md5(TED)  # the video stream untouched
    assert abs(after["audio"]["duration"] - before["audio"]["duration"]) < 0.05
    original, edited = audio_samples(TED), audio_samples(out)
    assert np.abs(edited[:16000 - 400]).max() < 1e-3  # silence in front
    for centre in (3.0, 11.0):  # near the start and near the end (the last second of speech was cut)
        lag = audio_lag(original, edited, centre, window=4.0, max_lag=2.0)
        assert abs(lag.seconds - 1.0) <= MS and lag.peak > 0.9, (centre, lag)
    advanced = audio_samples(delay_audio(TED, tmp_path / "advanced.mkv", -0.5))
    lag = audio_lag(original, advanced, 8.0, window=4.0, max_lag=2.0)
    assert abs(lag.seconds + 0.5) <= MS and lag.peak > 0.9, lag


def test_speed_audio_runs_fast_by_the_factor(tmp_path):
    factor = 1.003
    out = speed_audio(LONG, tmp_path / "fast.mp4", factor)
    before, after = streams(LONG), streams(out)
    assert video_md5(out) == video_md5(LONG)
    assert int(after["audio"]["sample_rate"]) == int(before["audio"]["sample_rate"])
    assert abs(after["audio"]["duration"] - before["audio"]["duration"] / factor) < 0.05
    original, edited = audio_samples(LONG), audio_samples(out)
    centres = np.array([4.0, 20.0, 36.0, 54.0])
    lags = [audio_lag(original, edited, c, window=6.0) for c in centres]
    assert min(lag.peak for lag in lags) > 0.8, lags
    expected = -centres * (1 - 1 / factor)  # a sound due at t is heard at t / factor: earlier, more so later
    assert np.abs(np.array([lag.seconds for lag in lags]) - expected).max() <= MS, (lags, expected)
    slope = np.polyfit(centres, [lag.seconds for lag in lags], 1)[0]
    assert abs(slope / -(1 - 1 / factor) - 1) < 0.05, slope  # linear, 0.3 % within 5 %


def test_side_by_side_keeps_the_chosen_audio(tmp_path):
    for side, source, other in (("left", NEIL, JAMIE), ("right", JAMIE, NEIL)):
        out = side_by_side(NEIL, JAMIE, tmp_path / f"{side}.mp4", audio_from=side, height=256)
        info = streams(out)
        assert info["video"]["height"] == 256 and info["video"]["width"] == 512  # two 224² squares at 256
        assert abs(info["video"]["duration"] - streams(JAMIE)["video"]["duration"]) < 0.1  # the shorter
        heard = audio_samples(out)
        assert audio_lag(audio_samples(source), heard, 2.5, window=4.0).peak > 0.9
        assert audio_lag(audio_samples(other), heard, 2.5, window=4.0).peak < 0.6


def test_concat_cut_plays_each_clip_with_its_audio(tmp_path):
    out = concat_cut(JAMIE, NEIL, tmp_path / "cut.mp4", height=256)
    first = min(streams(JAMIE)["video"]["duration"], streams(JAMIE)["audio"]["duration"])
    info = streams(out)
    assert (info["video"]["width"], info["video"]["height"]) == (256, 256)
    total = first + min(streams(NEIL)["video"]["duration"], streams(NEIL)["audio"]["duration"])
    assert abs(info["video"]["duration"] - total) < 0.1 and abs(info["audio"]["duration"] - total) < 0.1
    heard = audio_samples(out)
    assert audio_lag(audio_samples(JAMIE), heard, 2.5, window=4.0).seconds == pytest.approx(0, abs=MS)
    lag = audio_lag(audio_samples(NEIL), heard, 5.0, window=4.0, max_lag=first + 0.5)
    assert abs(lag.seconds - first) <= 0.045 and lag.peak > 0.9, (lag, first)  # after the cut, on a 25 fps frame


@pytest.mark.parametrize("lead", ["freeze", "loop"])
def test_music_before_speech(tmp_path, lead):
    out = music_before(JAMIE, SONG, tmp_path / f"{lead}.mp4", seconds=5, lead=lead)
    speech = min(streams(JAMIE)["video"]["duration"], streams(JAMIE)["audio"]["duration"])
    info = streams(out)
    assert abs(info["video"]["duration"] - (5 + speech)) < 0.1 and abs(info["audio"]["duration"] - (5 + speech)) < 0.1
    heard = audio_samples(out)
    assert audio_lag(audio_samples(SONG), heard, 2.5, window=4.0).peak > 0.9  # the song first
    lag = audio_lag(audio_samples(JAMIE), heard, 2.5, window=4.0, max_lag=6.0)
    assert abs(lag.seconds - 5) <= MS and lag.peak > 0.9, lag  # then the speech, 5 s late
    frames = decoded_gray(out, (0.5, 4.5))
    moved = np.abs(frames[0] - frames[1]).mean()
    assert moved < 1.0 if lead == "freeze" else moved > 2.0, moved  # the frozen frame holds still


def decoded_gray(path, times) -> list[np.ndarray]:
    import cv2
    capture = cv2.VideoCapture(str(path))
    frames = []
    for t in times:
        capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
        ok, frame = capture.read()
        assert ok, (path, t)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32))
    return frames


def test_concat_loop_repeats_the_clip(tmp_path):
    out = concat_loop(JAMIE, tmp_path / "loop.mp4", 3)
    once = min(streams(JAMIE)["video"]["duration"], streams(JAMIE)["audio"]["duration"])
    info = streams(out)
    assert abs(info["video"]["duration"] - 3 * once) < 0.15 and abs(info["audio"]["duration"] - 3 * once) < 0.15
    original, heard = audio_samples(JAMIE), audio_samples(out)
    for k in range(3):
        lag = audio_lag(original, np.roll(heard, -round(k * once * 16000)), 2.5, window=3.0, max_lag=0.2)
        assert abs(lag.seconds) <= 0.045 and lag.peak > 0.9, (k, lag)


def test_builders_raise_a_clear_error(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(AvEditError, match="ffprobe"):
        delay_audio(tmp_path / "notes.mp4", tmp_path / "x.mp4", 1.0)
    with pytest.raises(AvEditError, match="ffmpeg failed"):
        speed_audio(JAMIE, tmp_path / "x.unknown_suffix", 1.003)
    with pytest.raises(AvEditError, match="shorter than"):
        music_before(JAMIE, JAMIE, tmp_path / "x.mp4", seconds=30)
