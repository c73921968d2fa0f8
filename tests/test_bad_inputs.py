"""Broken, odd and awkwardly named inputs (tests/helpers/bad_inputs.py): media.py classifies and decodes each
one, and every stage of the pipeline (audio, tracks and each representation) gets through a folder of them
with each file accounted for once."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT, venv_env
from helpers.bad_inputs import OK, PWNED, WEIRD_NAMES, ffmpeg, frame_rates, make_bad_corpus
from helpers.tiny_hubert import make_tiny_hubert
from helpers.tiny_tdmm import make_random_3ddfa

from unisync_model import representations
from unisync_model import settings as S
from unisync_model.corpora.manifest import shard_names
from unisync_model.io.media import MediaError, VideoInfo, audio_samples, frame_size, probe, video_frames
from unisync_model.io.shards import ShardReader
from unisync_model.representations import AUDIO
from unisync_model.settings import FPS, SAMPLE_RATE

SHARDS = 2
# every stage of the workflow, each after the stages it reads (test_stages_are_every_stage_in_an_order_that_runs)
STAGES = ("audio", "tracks", "mel", "hubert", "rgb", "landmarks", "parsing", "tdmm")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad") / "corpus"
    started = time.monotonic()
    expected = make_bad_corpus(root)
    print(f"bad-input corpus: {len(expected)} files in {time.monotonic() - started:.1f} s")
    return root, expected


# ---------------------------------------------------------------- media.py on its own

@pytest.mark.parametrize("name", ["empty", "truncated", "audio_only", "cover_art"])
def test_probe_gives_the_reason(corpus, name):
    root, expected = corpus
    with pytest.raises(MediaError) as err:
        probe(root / name / "clip.mp4")
    assert str(err.value).startswith(expected[f"{name}/clip.mp4"])
    assert str(root) not in str(err.value)  # a reason, not ffmpeg's whole message with the path
    with pytest.raises(MediaError):  # decoding says the same, rather than failing some other way
        next(video_frames(root / name / "clip.mp4"))


def test_probe_of_a_missing_file(tmp_path):
    with pytest.raises(MediaError, match="^file missing$"):
        probe(tmp_path / "nothing.mp4")
    with pytest.raises(MediaError, match="^file missing$"):
        audio_samples(tmp_path / "nothing.mp4")


def test_probe_records_the_media_facts(corpus):
    root, _ = corpus
    uhd = probe(root / "uhd/clip.mp4")
    assert (uhd.width, uhd.height, uhd.codec, uhd.frames, uhd.fps) == (3840, 2160, "h264", 25, 25.0)
    assert uhd.video_seconds == pytest.approx(1.0) and uhd.audio_seconds == pytest.approx(1.0, abs=0.05)
    assert (uhd.audio_codec, uhd.audio_rate, uhd.audio_channels) == ("aac", 44100, 1)
    assert (probe(root / "one_pixel/clip.mp4").width, probe(root / "one_pixel/clip.mp4").height) == (1, 1)
    assert probe(root / "hevc/clip.mp4").codec == "hevc"
    video_only = probe(root / "video_only/clip.mp4")
    assert not video_only.has_audio and video_only.audio_seconds is None and video_only.audio_rate is None
    long_audio = probe(root / "long_audio/clip.mp4")
    assert long_audio.video_seconds == pytest.approx(1.0) and long_audio.audio_seconds == pytest.approx(2.0, abs=0.05)
    vfr = probe(root / "vfr/clip.mp4")
    avg, r = frame_rates(root / "vfr/clip.mp4")
    assert avg != r and vfr.fps == pytest.approx(avg)  # the average rate, not the container's nominal one
    assert probe(root / "rotated/clip.mp4").rotation == 270
    # a separate audio file supplies the audio facts
    both = probe(root / "video_only/clip.mp4", audio_path=root / "audio_only/clip.mp4")
    assert both.has_audio and both.audio_seconds == pytest.approx(1.0, abs=0.05)


def test_variable_frame_rate_comes_out_at_25_fps_by_timestamp(corpus, tmp_path):
    root, _ = corpus
    vfr = probe(root / "vfr/clip.mp4")
    assert len(list(video_frames(root / "vfr/clip.mp4"))) == round(vfr.video_seconds * FPS)
    # 1 s of black at 10 fps then 1 s of white at 50 fps: at 25 fps, 25 black frames then 25 white ones
    # (a decoder counting frames instead of reading timestamps would give 10 and 50)
    clip = tmp_path / "blackwhite.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=32x32:rate=10:duration=1", "-f", "lavfi", "-i",
           "color=white:size=32x32:rate=50:duration=1", "-filter_complex", "[0][1]concat=n=2:v=1[v]", "-map", "[v]",
           "-c:v", "libx264", "-fps_mode", "vfr", clip)
    brightness = np.array([f.mean() for f in video_frames(clip)])
    assert len(brightness) in (49, 50)  # whether the last 20 ms frame rounds to a frame of its own
    assert (brightness[:25] < 60).all() and (brightness[25:] > 200).all()


def test_audio_is_16_khz_mono_from_any_rate_and_layout(tmp_path):
    clip = tmp_path / "surround.mp4"  # 48 kHz 5.1 with a 1 kHz tone in every channel, 1.5 s
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=30:duration=1.5", "-f", "lavfi", "-i",
           "sine=frequency=1000:sample_rate=48000:duration=1.5", "-filter_complex",
           "[1]pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0[a]", "-map", "0:v", "-map", "[a]", "-c:v", "mpeg4",
           "-c:a", "aac", clip)
    info = probe(clip)
    assert (info.audio_rate, info.audio_channels, info.codec) == (48000, 6, "mpeg4")
    samples = audio_samples(clip)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == pytest.approx(1.5 * SAMPLE_RATE, abs=0.03 * SAMPLE_RATE)
    spectrum = np.abs(np.fft.rfft(samples[4000:20000]))
    assert np.fft.rfftfreq(16000, 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(1000, abs=2)
    assert len(list(video_frames(clip))) == round(1.5 * FPS)


def test_audio_reasons(corpus):
    root, _ = corpus
    for name, reason in (("video_only", "no audio stream"), ("empty", "unreadable: empty file")):
        with pytest.raises(MediaError, match=f"^{reason}$"):
            audio_samples(root / name / "clip.mp4")
    assert len(audio_samples(root / "audio_only/clip.mp4")) == pytest.approx(SAMPLE_RATE, abs=800)


def test_a_stream_starting_late_stays_in_sync(corpus, tmp_path):
    """Video starting 0.5 s after the audio: its first frame is held, so frame i still goes with audio
    [i * 640, (i + 1) * 640)."""
    root, _ = corpus
    good = root / "weird/with space.mp4"
    late = tmp_path / "late video.mp4"
    ffmpeg("-itsoffset", "0.5", "-i", good, "-i", good, "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    assert abs(len(list(video_frames(late))) - len(list(video_frames(good))) - 0.5 * FPS) <= 1
    assert len(audio_samples(late)) == pytest.approx(len(audio_samples(good)), abs=SAMPLE_RATE // 100)


def test_rotation_from_the_display_matrix_and_the_legacy_tag(corpus, tmp_path):
    root, _ = corpus
    upright = next(video_frames(root / "weird/with space.mp4")).astype(np.float32)
    rotated = root / "rotated/clip.mp4"
    assert np.abs(next(video_frames(rotated)) - upright).mean() < 8
    ignored = dataclasses.replace(probe(rotated), rotation=0)  # the same file, rotation not applied
    assert np.abs(next(video_frames(rotated, info=ignored)) - upright).mean() > 20
    # Matroska keeps no display matrix but a ROTATE tag, which ffmpeg itself no longer applies
    legacy = tmp_path / "legacy.mkv"
    ffmpeg("-i", rotated, "-c", "copy", "-metadata:s:v:0", "ROTATE=270", legacy)
    stream = ffprobe_video(legacy)
    assert "side_data_list" not in stream and stream["tags"]["ROTATE"] == "270"
    assert probe(legacy).rotation == 270
    assert np.abs(next(video_frames(legacy)) - upright).mean() < 8


def ffprobe_video(path: Path) -> dict:
    return json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-select_streams",
                                      "v:0", path], capture_output=True, check=True).stdout)["streams"][0]


def test_frames_scaled_to_a_width_and_odd_sizes(corpus):
    root, _ = corpus
    uhd = list(video_frames(root / "uhd/clip.mp4", width=320))
    assert len(uhd) == 25 and uhd[0].shape == (180, 320, 3)
    assert [f.shape for f in video_frames(root / "one_pixel/clip.mp4")] == [(1, 1, 3)] * 25
    assert next(video_frames(root / "weird/it's.mp4", 99, 77)).shape == (77, 99, 3)  # exact odd size
    info = VideoInfo(width=1080, height=1920, duration=1.0, has_audio=True, rotation=0, codec="h264")
    assert frame_size(info, 320) == (320, 568)  # portrait, even sides
    assert frame_size(dataclasses.replace(info, width=65, height=49), 33) == (32, 24)
    assert frame_size(dataclasses.replace(info, width=65, height=49), 320) == (65, 49)  # never scaled up


def test_stopping_early_ends_ffmpeg_quietly(corpus):
    frames = video_frames(corpus[0] / "uhd/clip.mp4")
    next(frames)
    started = time.monotonic()
    frames.close()  # no MediaError for the broken pipe, and no waiting for the rest of the 4K decode
    assert time.monotonic() - started < 2


def test_awkward_names_decode_and_reach_no_shell(corpus):
    root, _ = corpus
    for name in WEIRD_NAMES:
        assert probe(root / name).has_audio, name
        assert len(list(video_frames(root / name))) == 25, name
        assert len(audio_samples(root / name)) > 0.9 * SAMPLE_RATE, name
    assert not list(root.rglob(PWNED)) and not (Path.cwd() / PWNED).exists()


# ---------------------------------------------------------------- the pipeline on the folder

@pytest.fixture(scope="module")
def stage_settings(tmp_path_factory) -> dict[str, dict]:
    """Each stage's settings: config.yaml's, with model files the test makes where config.yaml names a
    hub model or weights absent offline (a tiny random HuBERT, a random 3DDFA_V2 MobileNet)."""
    models = tmp_path_factory.mktemp("models")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    weights, mean_std = make_random_3ddfa(models / "3ddfa")
    config["hubert"].update(model=str(make_tiny_hubert(models / "tiny-hubert")), layer=2)
    config["tdmm"].update(weights=str(weights), mean_std=str(mean_std))
    return {stage: config.get(stage, {}) for stage in STAGES}


@pytest.fixture(scope="module")
def pipeline(corpus, yunet_weights, stage_settings, tmp_path_factory) -> tuple[Path, list]:
    """Run the manifest, then every stage of the workflow (audio, tracks and each representation of the
    registry, in the order of their inputs) on every shard. A stage whose input shards failed to appear
    is not run; test_every_stage_exits_0 reports the failure."""
    root, _ = corpus
    work = tmp_path_factory.mktemp("bad-run")
    runs = []

    def unisync(*args) -> bool:
        result = subprocess.run(["unisync", *map(str, args)], cwd=work, env=venv_env(), capture_output=True,
                                text=True, timeout=900)
        runs.append((args, result))
        return result.returncode == 0

    manifest = work / "clips.parquet"
    if not unisync("manifest", "--recipe", "folder", "--root", root, "--shards", SHARDS, "--out", manifest):
        return work, runs
    for shard in shard_names(SHARDS):
        done: set[str] = set()
        for stage in STAGES:
            inputs = stage_inputs(stage, stage_settings[stage])
            if not set(inputs) <= done:
                continue
            clips = () if stage in representations.names(AUDIO) else ("--manifest", manifest, "--shard", shard)
            paths = [arg for name in inputs for arg in (f"--{name}", work / name / f"{shard}.h5")]
            if unisync(stage, *clips, *paths, "--settings", json.dumps(stage_settings[stage]),
                       "--out", work / stage / f"{shard}.h5"):
                done.add(stage)
    return work, runs


def stage_inputs(stage: str, settings: dict) -> tuple[str, ...]:
    """The shards a stage reads under its settings."""
    if stage in ("audio", "tracks"):
        return ()
    rep = representations.get(stage)
    return rep.shards_read(S.from_dict(rep.settings, settings))


def test_stages_are_every_stage_in_an_order_that_runs(stage_settings):
    assert set(STAGES) == {"audio", "tracks", *representations.names()}
    for i, stage in enumerate(STAGES):
        assert set(stage_inputs(stage, stage_settings[stage])) <= set(STAGES[:i]), stage


def test_every_stage_exits_0(pipeline):
    _, runs = pipeline
    failed = [f"unisync {' '.join(map(str, args))}\n{result.stderr[-2000:]}"
              for args, result in runs if result.returncode != 0]
    assert not failed, "\n\n".join(failed)
    assert len(runs) == 1 + len(STAGES) * SHARDS


def stage_outcomes(work: Path) -> dict[str, dict[str, list[str]]]:
    """stage → clip id → what each shard of the stage says of it ("written" or the skip reason)."""
    outcomes: dict[str, dict[str, list[str]]] = {}
    for stage in STAGES:
        outcomes[stage] = {}
        for shard in shard_names(SHARDS):
            reader = ShardReader(work / stage / f"{shard}.h5")
            for clip_id in reader.clip_ids:
                outcomes[stage].setdefault(clip_id, []).append("written")
            for record in reader.skipped:
                outcomes[stage].setdefault(record["clip_id"], []).append(record["reason"])
    return outcomes


def test_every_file_is_accounted_for_once(corpus, pipeline):
    root, expected = corpus
    work, _ = pipeline
    clips = pd.read_parquet(work / "clips.parquet")
    relative = [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in clips["path"]]
    assert sorted(relative) == sorted(expected), "the manifest lists each file once, and only those"
    outcomes = stage_outcomes(work)
    problems = []
    for name, (_, clip) in zip(relative, clips.iterrows()):
        want, cid = expected[name], clip["clip_id"]
        seen = {stage: outcomes[stage].get(cid, []) for stage in STAGES}
        if clip["status"] != "ok":
            if want == OK or not clip["status"].startswith(f"skipped: {want}"):
                problems.append(f"{name}: manifest says {clip['status']!r}, expected {want!r}")
            if any(seen.values()):
                problems.append(f"{name}: skipped by the manifest, yet in the shards: {seen}")
            continue
        if any(len(v) != 1 for v in seen.values()):
            problems.append(f"{name}: not exactly once in every stage: {seen}")
            continue
        results = [v[0] for v in seen.values()]
        if want == OK and results != ["written"] * len(STAGES):
            problems.append(f"{name}: expected written by every stage, got {seen}")
        if want != OK and not any(r.startswith(want) for r in results):
            problems.append(f"{name}: expected a skip for {want!r}, got manifest 'ok' and {seen}")
    assert not problems, "\n".join(problems)


def test_awkward_names_reach_rgb_and_mel(corpus, pipeline):
    root, _ = corpus
    work, _ = pipeline
    clips = pd.read_parquet(work / "clips.parquet")
    ids = {Path(p).resolve().relative_to(root.resolve()).as_posix(): c for p, c in zip(clips["path"], clips["clip_id"])}
    rgb = [ShardReader(work / "rgb" / f"{s}.h5") for s in shard_names(SHARDS)]
    mel = [ShardReader(work / "mel" / f"{s}.h5") for s in shard_names(SHARDS)]
    for name in WEIRD_NAMES:
        crops = next(r.read(ids[name]) for r in rgb if ids[name] in r)
        assert crops.shape == (25, 48, 96, 3), name
        assert crops.std() > 10, f"{name}: the crops are flat"
        mels = next(m.read(ids[name]) for m in mel if ids[name] in m)
        assert mels.shape[1] == 80 and len(mels) >= 80, name  # 1 s of audio is 80 Mel frames


def test_no_name_reached_a_shell(corpus, pipeline):
    """`$(touch pwned)` in a name would create `pwned` in the working directory of whatever shell ran it."""
    root, _ = corpus
    work, _ = pipeline
    found = [*root.rglob(PWNED), *work.rglob(PWNED),
             *(p / PWNED for p in (Path.cwd(), ROOT, Path.home()) if (p / PWNED).exists())]
    assert not found
