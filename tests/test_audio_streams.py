"""Several audio streams (issue 12): the default stream is decoded, and when it is silent the others are
tried, so a video whose speech is on its second audio stream is not "silent audio"; a stream can be
chosen; probe records the streams; single-stream files decode as before; the audio stage chooses alike."""
from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unisync_model.extract.audio import extract_audio
from unisync_model.io.media import MediaError, audio_samples, level_dbfs, probe, speech_audio
from unisync_model.io.shards import ShardReader
from unisync_model.settings import SAMPLE_RATE, AudioSettings

SILENCE = -55.0  # ScoreSettings.silence_dbfs's default


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def video_with(out: Path, *audios: str, flags: str | None = None) -> Path:
    """A 1 s test picture with one audio stream per lavfi source, in that order; `flags` the audio
    stream (N of `0:a:N`) flagged default, the others unflagged (None: ffmpeg flags the first)."""
    inputs = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=1"]
    maps = ["-map", "0:v"]
    for k, source in enumerate(audios, 1):
        inputs += ["-f", "lavfi", "-i", source]
        maps += ["-map", f"{k}:a"]
    disposition = [] if flags is None else [
        a for n in range(len(audios)) for a in (f"-disposition:a:{n}", "default" if n == flags else "0")]
    ffmpeg(*inputs, *maps, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", *disposition,
           "-t", "1", str(out))
    return out


SILENT = f"anullsrc=r={SAMPLE_RATE}:cl=mono"
TONE = "sine=frequency=440:duration=1:sample_rate=44100"  # the "speech"
HIGH = "sine=frequency=1000:duration=1:sample_rate=22050"


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[spectrum.argmax()])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("streams")
    return {
        "silent_first": video_with(folder / "silent_first.mp4", SILENT, TONE),
        "all_silent": video_with(folder / "all_silent.mp4", SILENT, SILENT),
        "second_default": video_with(folder / "second_default.mp4", TONE, HIGH, flags=1),
        "single": video_with(folder / "single.mp4", TONE),
        "mute": video_with(folder / "mute.mp4"),
    }


def test_probe_records_the_streams_and_the_default(videos):
    info = probe(videos["silent_first"])
    assert info.audio_streams == (1, 2) and info.audio_default == 0 and info.audio_rate == SAMPLE_RATE
    second = probe(videos["second_default"])
    # the audio facts describe the default stream (22.05 kHz), not the first (44.1 kHz)
    assert second.audio_streams == (1, 2) and second.audio_default == 1 and second.audio_rate == 22050
    mute = probe(videos["mute"])
    assert not mute.has_audio and mute.audio_streams == () and mute.audio_default is None


def test_a_silent_first_stream_gives_way_to_the_one_with_sound(videos):
    audio = speech_audio(videos["silent_first"], silence_dbfs=SILENCE)
    assert audio.stream == 1 and audio.tried == (0, 1)
    assert level_dbfs(audio.samples) > SILENCE and dominant_hz(audio.samples) == pytest.approx(440, abs=5)
    np.testing.assert_array_equal(audio.samples, audio_samples(videos["silent_first"], 1))
    # the same with probe's facts passed in (no second ffprobe run)
    again = speech_audio(videos["silent_first"], silence_dbfs=SILENCE, info=probe(videos["silent_first"]))
    assert again.stream == 1 and again.tried == (0, 1)


def test_a_chosen_silent_stream_is_returned_silent(videos):
    audio = speech_audio(videos["silent_first"], stream=0, silence_dbfs=SILENCE)
    assert audio.stream == 0 and audio.tried == (0,) and level_dbfs(audio.samples) < SILENCE
    chosen = speech_audio(videos["silent_first"], stream=1, silence_dbfs=SILENCE)
    assert chosen.stream == 1 and chosen.tried == (1,) and level_dbfs(chosen.samples) > SILENCE


def test_when_every_stream_is_silent_the_default_is_returned(videos):
    audio = speech_audio(videos["all_silent"], silence_dbfs=SILENCE)
    assert audio.stream == 0 and audio.tried == (0, 1) and level_dbfs(audio.samples) < SILENCE


def test_a_missing_stream_names_the_streams_there_are(videos):
    with pytest.raises(MediaError) as err:
        speech_audio(videos["silent_first"], stream=2)
    message = str(err.value)
    assert message.startswith("no audio stream 2: the file has 2 audio streams")
    assert "0 (stream #1, default)" in message and "1 (stream #2)" in message
    assert str(videos["silent_first"]) not in message
    with pytest.raises(MediaError, match="no audio stream -1"):
        speech_audio(videos["silent_first"], stream=-1)
    for stream in (None, 0):
        with pytest.raises(MediaError, match="^no audio stream$"):
            speech_audio(videos["mute"], stream=stream)
    with pytest.raises(MediaError, match="^file missing$"):
        speech_audio(videos["mute"].with_name("nothing.mp4"))


def test_single_stream_files_decode_as_before(videos, tmp_path):
    path = videos["single"]
    # what audio_samples decoded before issue 12: ffmpeg's first audio stream, resampled the same way (now
    # in-process by PyAV, whose FFmpeg may round a sample the other way: one 16-bit step at most)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", f"file:{path}", "-map", "0:a:0",
           "-af", f"aresample={SAMPLE_RATE}:async=1:first_pts=0", "-ac", "1", "-f", "s16le", "pipe:"]
    before = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16) / 32768.0
    audio = speech_audio(path, silence_dbfs=SILENCE)
    assert audio.stream == 0 and audio.tried == (0,)
    assert audio.samples.shape == before.shape
    np.testing.assert_allclose(audio.samples, before.astype(np.float32), rtol=0, atol=1 / 32768)
    assert np.mean(audio.samples == before.astype(np.float32)) > 0.999
    np.testing.assert_array_equal(audio_samples(path), audio.samples)
    info = probe(path)
    assert info.audio_streams == (1,) and info.audio_default == 0 and info.audio_rate == 44100
    # a separate audio file (a corpus's .wav): probe cannot read it alone, speech_audio can
    wav = tmp_path / "speech.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        w.writeframes((0.3 * np.sin(2 * np.pi * 300 * t) * 32767).astype(np.int16).tobytes())
    from_wav = speech_audio(wav, silence_dbfs=SILENCE)
    assert from_wav.stream == 0 and from_wav.tried == (0,)
    np.testing.assert_array_equal(from_wav.samples, audio_samples(wav))
    assert probe(path, wav).audio_streams == (0,)


def test_the_default_flag_decides_which_stream_comes_first(videos):
    audio = speech_audio(videos["second_default"], silence_dbfs=SILENCE)
    assert audio.stream == 1 and audio.tried == (1,)
    assert dominant_hz(audio.samples) == pytest.approx(1000, abs=5)
    first = speech_audio(videos["second_default"], stream=0, silence_dbfs=SILENCE)
    assert dominant_hz(first.samples) == pytest.approx(440, abs=5)


def test_the_audio_stage_trains_on_the_stream_with_sound(videos, tmp_path):
    clips = pd.DataFrame({"clip_id": ["a/silent_first", "a/single", "a/mute"],
                          "audio_path": [str(videos["silent_first"]), str(videos["single"]), str(videos["mute"])]})
    assert extract_audio(clips, tmp_path / "auto.h5") == (2, 1)
    reader = ShardReader(tmp_path / "auto.h5")
    assert reader.info("a/silent_first")["stream"] == 1 and reader.info("a/silent_first")["tried"] == [0, 1]
    assert reader.info("a/single")["stream"] == 0 and "tried" not in reader.info("a/single")
    assert level_dbfs(reader.read("a/silent_first") / 32768.0) > SILENCE
    assert reader.info("a/single")["seconds"] == pytest.approx(1.0, abs=0.1)
    # a chosen stream: exactly that one, silent or not; a stream the file lacks skips the clip with the reason
    assert extract_audio(clips, tmp_path / "chosen.h5", AudioSettings(stream=0)) == (2, 1)
    chosen = ShardReader(tmp_path / "chosen.h5")
    assert chosen.info("a/silent_first")["stream"] == 0
    assert level_dbfs(chosen.read("a/silent_first") / 32768.0) < SILENCE
    assert extract_audio(clips, tmp_path / "second.h5", AudioSettings(stream=1)) == (1, 2)
    second = ShardReader(tmp_path / "second.h5")
    assert second.info("a/silent_first")["stream"] == 1
    reasons = {r["clip_id"]: r["reason"] for r in second.skipped}
    assert reasons["a/single"] == "no audio stream 1: the file has 1 audio stream: 0 (stream #1, default)"
    assert reasons["a/mute"] == "no audio stream"
    assert json.loads(second.attrs["settings"]) == {"stream": 1, "silence_dbfs": SILENCE}
