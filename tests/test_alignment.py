"""Frames and Mel frames line up: a clip whose flashes and beeps happen at known frames, encoded
by ffmpeg and decoded by our own decoders, puts each beep in the Mel frames of its flash's frame."""
import subprocess
import wave

import numpy as np
import pytest

from unisync_model.extract.mel import log_mel
from unisync_model.io.av_timing import MEL_WINDOW, mel_start, window_count
from unisync_model.io.media import audio_samples, video_frames
from unisync_model.settings import FPS, SAMPLE_RATE, MelSettings

FLASHES = [10, 31, 57, 58, 80]  # video frames that are white, with a 1 kHz beep over exactly their 40 ms
FRAMES = 100


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flash")
    t = np.arange(FRAMES * SAMPLE_RATE // FPS) / SAMPLE_RATE
    audio = np.zeros_like(t)
    for k in FLASHES:
        span = (t >= k / FPS) & (t < (k + 1) / FPS)
        audio[span] = 0.5 * np.sin(2 * np.pi * 1000 * t[span])
    with wave.open(str(folder / "beeps.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        w.writeframes((audio * 32767).astype(np.int16).tobytes())
    frames = np.zeros((FRAMES, 64, 64, 3), np.uint8)
    frames[FLASHES] = 255
    clip = folder / "flash.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "64x64", "-r", str(FPS), "-i", "pipe:", "-i", str(folder / "beeps.wav"),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)],
                   input=frames.tobytes(), check=True)
    return clip


@pytest.fixture(scope="module")
def flash_clip_ts(flash_clip):
    """The same streams in MPEG-TS, whose timestamps start at 1.4 s: t = 0 is the file's start, not pts 0."""
    clip = flash_clip.with_suffix(".ts")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(flash_clip), "-c", "copy",
                    "-f", "mpegts", str(clip)], check=True)
    return clip


def test_flashes_decode_at_their_frames(flash_clip):
    brightness = np.array([f.mean() for f in video_frames(flash_clip)])
    assert len(brightness) == FRAMES
    assert sorted(np.flatnonzero(brightness > 128)) == FLASHES


def test_in_mpeg_ts_the_frames_and_the_samples_start_where_the_file_starts(flash_clip_ts):
    """The TS muxer moves the video a frame or two after the audio's start (no edit list), so the
    flashes come that much later; a clock counted from pts 0 instead would put them 37 frames later,
    away from their beeps."""
    flashes = np.flatnonzero(np.array([f.mean() for f in video_frames(flash_clip_ts)]) > 128)
    lead = flashes[0] - FLASHES[0]
    assert 0 <= lead <= 2 and list(flashes) == [k + lead for k in FLASHES]
    samples = audio_samples(flash_clip_ts)
    per_frame = np.abs(samples[: len(samples) // 640 * 640]).reshape(-1, 640).mean(axis=1)  # 640 samples a frame
    assert list(np.flatnonzero(per_frame > 0.5 * per_frame.max())) == list(flashes)


def test_each_beep_lands_in_the_mel_frames_of_its_flash(flash_clip):
    mel = log_mel(audio_samples(flash_clip), MelSettings())
    tone = mel.max(axis=1)  # the 1 kHz bin; a mean over bins would favour the broadband clicks at the edges
    per_frame = np.array([tone[mel_start(i):mel_start(i + 1)].mean() for i in range(FRAMES - 1)])
    # within 12.5 dB of the loudest: exactly the beep frames (the 50 ms STFT window bleeds less than that)
    loud = set(np.flatnonzero(per_frame >= per_frame.max() - 1.0).tolist())
    assert loud == set(FLASHES)
    for k in FLASHES:
        if k + 1 not in FLASHES and k - 1 not in FLASHES:
            assert per_frame[k] > per_frame[k - 1] and per_frame[k] > per_frame[k + 1]


def test_window_arithmetic():
    assert [mel_start(i) for i in range(6)] == [0, 4, 7, 10, 13, 16]
    assert MEL_WINDOW == 16
    assert mel_start(25) == 80  # one second of video is 80 Mel frames
    # 100 video frames with 4 s of audio (321 Mel frames, centred STFT): windows start at 0..95
    assert window_count(100, 321, "mel") == 96
    assert window_count(100, 200, "mel") == (200 - 16) * 25 // 80 + 1
    assert window_count(4, 321, "mel") == 0
