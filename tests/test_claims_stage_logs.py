"""Every stage logs a summary of what it wrote and skipped, by reason (README, "Every clip is accounted
for"): the audio and mel stages on a tiny manifest of two good clips and one bad one, with the log
lines they write (stage.run_stage), and the skip carried from the stage read into the next one."""
from __future__ import annotations

import logging
import shutil
import wave

import numpy as np
import pandas as pd
import pytest

from unisync_model.extract.audio import extract_audio
from unisync_model.extract.mel import extract_mel
from unisync_model.io.shards import ShardReader
from unisync_model.settings import SAMPLE_RATE, MelSettings

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")


def write_wav(path, seconds: float, frequency: float) -> None:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        w.writeframes((0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16).tobytes())


def stage_lines(caplog, stage: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "unisync_model.extract.stage" and r.getMessage().startswith(f"{stage}: ")]


def test_two_stages_log_what_they_wrote_and_skipped_by_reason(tmp_path, caplog):
    write_wav(tmp_path / "good1.wav", 1.0, 440)
    write_wav(tmp_path / "good2.wav", 0.6, 880)
    (tmp_path / "empty.wav").touch()  # zero bytes: no audio to decode
    clips = pd.DataFrame({"clip_id": ["s/good1", "s/empty", "s/good2"],
                          "audio_path": [str(tmp_path / n) for n in ("good1.wav", "empty.wav", "good2.wav")]})
    caplog.set_level(logging.INFO, logger="unisync_model.extract.stage")
    audio_out, mel_out = tmp_path / "audio" / "000.h5", tmp_path / "mel" / "000.h5"
    assert extract_audio(clips, audio_out) == (2, 1)
    assert extract_mel(audio_out, mel_out, MelSettings()) == (2, 1)

    audio_reason = ShardReader(audio_out).skipped[0]["reason"]
    assert ShardReader(audio_out).skipped[0]["clip_id"] == "s/empty"
    audio_lines = stage_lines(caplog, "audio")
    assert audio_lines[0] == f"audio: skipped s/empty: {audio_reason}"  # the clip, as it happens
    assert audio_lines[1] == f"audio: 2 clips written, 1 skipped -> {audio_out}"
    assert audio_lines[2:] == [f"audio: skipped 1 × {audio_reason.split(':')[0]}"]  # the summary by reason

    mel_lines = stage_lines(caplog, "mel")
    assert mel_lines[0] == f"mel: 2 clips written, 1 skipped -> {mel_out}"
    assert mel_lines[1:] == [f"mel: skipped 1 × upstream: {audio_reason.split(':')[0]}"]
    # the mel shard accounts for the clip the audio stage skipped, with its reason
    mel = ShardReader(mel_out)
    assert sorted(mel.clip_ids) == ["s/good1", "s/good2"]
    assert [(r["clip_id"], r["reason"]) for r in mel.skipped] == [("s/empty", audio_reason)]
    # a skipped clip is a warning, not an error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
