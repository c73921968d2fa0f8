"""`unisync score` / `unisync fix`: the training-free scorer on a synthetic face whose mouth follows a
known envelope, and on real clips whose audio ffmpeg shifted by known amounts; reasons instead of
numbers for videos without audio, with silent audio, without a face, missing or unreadable; fix then
score gives ≈ 0; the video stream survives fix untouched and the audio moves by exactly the offset;
the shard route gives the path route's numbers; the output files and the CLI.

Sign convention under test (syncnet_python's, model/lse.py): delaying the audio by k frames moves
the reported offset by −k; `fix --offset N` delays the audio by N frames."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal
from helpers import SMALL_REAL_CLIPS, venv_env
from helpers.images import assert_figure

from unisync_model.io.media import audio_samples, probe
from unisync_model.model.lse import distances, gated_curve, pair_mask, syncnet_lse
from unisync_model.scoring.fix import FixError, fix_video, shift_audio
from unisync_model.scoring.inputs import expand_inputs
from unisync_model.scoring.outputs import SEGMENT_COLUMNS, VIDEO_COLUMNS, merge_outputs, write_outputs
from unisync_model.scoring.results import score_clip
from unisync_model.scoring.scorers import ClipData, make_scorer, scorer_from_settings
from unisync_model.scoring.scorers.training_free import TrainingFreeScorer
from unisync_model.scoring.shard_route import score_shard
from unisync_model.scoring.videos import VideoLoader, score_video, score_videos
from unisync_model.settings import FPS, SAMPLE_RATE, ScoreSettings, SpeechSettings, TrainingFreeSettings

# frontal, speaking, clean audio, committed under tests/data/clips (their sync is assumed, not verified:
# the shift test is relative)
FRONTAL = list(SMALL_REAL_CLIPS)
SHIFTS = (-10, -5, 5, 10)  # frames the audio is delayed by (negative: advanced)
SECONDS = 3  # the committed clips' length: still 61 windows of 15 frames


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def delayed_copy(src: Path, dst: Path, frames: int) -> Path:
    """The test's own shifted copy (not fix_sync's code): audio delayed by `frames` / 25 s and written
    into the samples, video stream copied."""
    ffmpeg("-i", str(src), "-itsoffset", f"{frames / FPS:.6f}", "-i", str(src), "-map", "0:v", "-map", "1:a",
           "-c:v", "copy", "-c:a", "aac", "-af", "aresample=async=1:first_pts=0", str(dst))
    return dst


def video_md5(path: Path) -> str:
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f",
                          "md5", "-"], check=True, capture_output=True, text=True).stdout
    return out.strip()


def lag_samples(shifted: np.ndarray, original: np.ndarray) -> int:
    """How many samples later `original`'s content appears in `shifted`."""
    n = min(len(shifted), len(original))
    c = scipy.signal.correlate(shifted[:n], original[:n], mode="full", method="fft")
    return int(np.argmax(c)) - (n - 1)


# ----------------------------------------------------------------------- synthetic: no ../shared needed

# The synthetic clips' sound is band-passed noise, not speech (silero-vad rightly finds none), and it
# follows the synthetic mouth with no articulatory lead: the tests of the scoring arithmetic turn both
# corrections off; each is tested on its own (tests/test_speech_gate.py).
SYNTHETIC = TrainingFreeSettings(lead_frames=0)
UNGATED = ScoreSettings(speech=SpeechSettings(gate=False))

def synthetic_clip(delay: int, frames: int = 250, seed: int = 0) -> ClipData:
    """A face whose lips, lip gap and jaw open with a random 2–6 Hz envelope, and speech-band noise
    whose loudness follows that envelope `delay` frames later (delay > 0: the audio lags)."""
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(2, (2, 6), btype="bandpass", fs=FPS, output="sos")
    opening = scipy.signal.sosfiltfilt(sos, rng.standard_normal(frames + 40))
    opening = (opening - opening.min()) / np.ptp(opening)  # 0 … 1
    face = np.zeros((frames, 68, 2))
    face[:, :, 0] = np.linspace(80, 160, 68)
    face[:, :, 1] = 120.0
    face[:, 36:42] = [100, 100]  # eyes 40 px apart
    face[:, 42:48] = [140, 100]
    face[:, 33] = [120, 130]  # nose
    m = opening[20:20 + frames, None]
    face[:, 61:64] = np.stack([[114, 150], [120, 150], [126, 150]])  # upper inner lip
    face[:, 65:68] = np.stack([[126, 150], [120, 150], [114, 150]]) + np.array([0, 1]) * 12 * m[:, None]
    face[:, 51] = [120, 147]
    face[:, 57] = np.array([120, 153]) + np.array([0, 1]) * 12 * m
    face[:, 8] = np.array([120, 180]) + np.array([0, 1]) * 6 * m
    loud = opening[20 - delay:20 - delay + frames]
    envelope = np.interp(np.arange(frames * 640) / 640 - 0.5, np.arange(frames), 0.02 + loud)
    band = scipy.signal.butter(4, (300, 3000), btype="bandpass", fs=SAMPLE_RATE, output="sos")
    noise = scipy.signal.sosfilt(band, rng.standard_normal(frames * 640))
    track = np.zeros((frames, 17), np.float32)
    track[:, :4] = [70, 80, 170, 190]
    track[:, -1] = 0  # one segment: the whole clip
    return ClipData("synthetic", track=track, samples=(0.1 * envelope * noise / noise.std()).astype(np.float32),
                    arrays={"landmarks": face.astype(np.float32)})


@pytest.mark.parametrize("delay", [-7, 0, 4])
def test_training_free_finds_a_known_delay_on_a_synthetic_face(delay):
    scorer = TrainingFreeScorer(SYNTHETIC)
    result = score_clip(synthetic_clip(delay), scorer, settings=UNGATED)
    assert result.ok and result.scorer == "training-free" and "TRAINING-FREE" in scorer.description
    assert result.offset == -delay, (delay, result.offset)  # audio lagging by d frames: offset −d
    assert result.confidence > 0.3 and result.min_dist < 0.8
    # the segment's numbers: the mean over the pairs whose audio window lies inside the segment (no zero
    # padding), which finds syncnet_python's offset on a clip like this one
    seg = scorer.embed(synthetic_clip(delay))[0]
    inside = gated_curve(distances(seg.visual, seg.audio, 15, False), pair_mask(seg.windows, 15), 15)
    assert inside.best() == (result.segments[0].offset, result.segments[0].min_dist, result.segments[0].confidence)
    assert syncnet_lse(seg.visual, seg.audio).offset == result.offset
    assert seg.windows == 250 - scorer.window + 1


def test_silent_segments_and_short_segments_get_reasons():
    clip = synthetic_clip(0)
    clip.track[:, -1] = -1
    clip.track[10:20, -1] = 0  # 10 frames: shorter than a window
    clip.track[30:200, -1] = 1
    clip.samples[30 * 640:200 * 640] = 0.0  # that segment is silent
    result = score_clip(clip, TrainingFreeScorer(SYNTHETIC), settings=UNGATED)
    assert not result.ok and [s.reason is not None for s in result.segments] == [True, True]
    assert "too short" in result.segments[0].reason and "silent audio" in result.segments[1].reason
    assert "too short" in result.reason and "silent audio" in result.reason


def test_inputs_are_files_folders_and_lists(tmp_path):
    for name in ("a/x.mp4", "a/b/y.MOV", "a/notes.txt", "z/x.mkv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "list.txt").write_text("# videos\nz/x.mkv\n\n/nowhere/w.mp4\n")
    items = expand_inputs([tmp_path / "a", tmp_path / "list.txt", tmp_path / "a" / "x.mp4"])
    assert [(str(i.path.relative_to(tmp_path)) if i.path.is_relative_to(tmp_path) else str(i.path), i.clip_id)
            for i in items] == [
        ("a/b/y.MOV", "b/y"), ("a/x.mp4", "x"), ("z/x.mkv", "x-2"), ("/nowhere/w.mp4", "w"), ("a/x.mp4", "x-3")]
    assert [(i.reason, i.missing) for i in items] == [(None, False)] * 3 + [("file missing", True), (None, False)]


def test_scorer_names():
    with pytest.raises(ValueError, match="needs --model"):
        make_scorer("unisync")
    with pytest.raises(ValueError, match="takes no --model"):
        make_scorer("training-free", "x.pt")
    with pytest.raises(ValueError, match="unknown scorer"):
        make_scorer("lse")


# ------------------------------------------------------------------------------------ real clips

@pytest.fixture(scope="module")
def clips(tmp_path_factory, yunet_weights, small_real_clips) -> dict[str, Path]:
    """The frontal clips, re-encoded as the shifted copies are, and for each its delayed copies."""
    root = tmp_path_factory.mktemp("score")
    out = {}
    for name in FRONTAL:
        cut = root / f"{name}.mp4"
        ffmpeg("-i", str(small_real_clips[name]), "-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast",
               "-c:a", "aac", str(cut))
        out[name] = cut
        for k in SHIFTS:
            out[f"{name}{k:+d}"] = delayed_copy(cut, root / f"{name}_delay{k:+d}.mp4", k)
    return out


@pytest.fixture(scope="module")
def scorer():
    return scorer_from_settings("training-free")


def test_shifting_the_audio_moves_the_offset(clips, scorer, capsys):
    """Each clip's track and landmarks are computed once (the video streams are the same packets); the
    audio of each ffmpeg-shifted copy is decoded and scored with them. One copy also goes the whole way
    from its file, which must agree."""
    settings = ScoreSettings()
    loader = VideoLoader(scorer, settings)
    hits, lines, loaded = 0, [], {}
    for name in FRONTAL:
        clip = loaded[name] = loader(clips[name], name)
        base = score_clip(clip, scorer, settings=settings)
        assert base.ok and abs(base.offset) <= 2, (name, base.offset)  # real clips: near sync
        row = [f"{name}: {base.offset:+d} (conf {base.confidence:.2f})"]
        for k in SHIFTS:
            moved = ClipData(name, str(clips[f"{name}{k:+d}"]), clip.track, audio_samples(clips[f"{name}{k:+d}"]),
                             dict(clip.arrays))
            result = score_clip(moved, scorer, settings=settings)
            hits += abs(result.offset - (base.offset - k)) <= 1
            row.append(f"delay {k:+d} → {result.offset:+d} (conf {result.confidence:.2f})")
        lines.append(", ".join(row))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert hits == len(FRONTAL) * len(SHIFTS), lines  # every shift followed within ±1 frame of base − k

    name = FRONTAL[0]
    whole = score_video(clips[f"{name}+5"], scorer, settings)
    by_arrays = score_clip(ClipData(name, None, loaded[name].track, audio_samples(clips[f"{name}+5"]),
                                    dict(loaded[name].arrays)), scorer, settings=settings)
    assert whole.ok and (whole.offset, round(whole.min_dist, 5)) == (by_arrays.offset, round(by_arrays.min_dist, 5))


def test_videos_without_a_score_get_reasons(clips, scorer, tmp_path):
    src = clips[FRONTAL[1]]
    ffmpeg("-i", str(src), "-an", "-c:v", "copy", str(tmp_path / "no_audio.mp4"))
    ffmpeg("-i", str(src), "-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono", "-map", "0:v", "-map", "1:a",
           "-c:v", "copy", "-c:a", "aac", "-shortest", str(tmp_path / "digital_silence.mp4"))
    ffmpeg("-i", str(src), "-c:v", "copy", "-af", "volume=-50dB", "-c:a", "aac", str(tmp_path / "whisper.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x160:rate=25:duration=2", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
           "-shortest", str(tmp_path / "no_face.mp4"))
    (tmp_path / "notes.mp4").write_text("not a video")
    listing = tmp_path / "videos.txt"
    listing.write_text("# one per line, relative to this file\nno_audio.mp4\ndigital_silence.mp4\nwhisper.mp4\n"
                       "no_face.mp4\nnotes.mp4\nmissing.mp4\n")
    results = {r.clip_id: r for r in score_videos([listing], scorer)}
    reasons = {k: r.reason for k, r in results.items()}
    assert not any(r.ok for r in results.values()), reasons
    assert reasons["no_audio"] == "no audio stream"
    assert reasons["digital_silence"] == "silent audio (digital silence)"
    assert re.fullmatch(r"silent audio \(-[6-9]\d\.\d dBFS < -55 dBFS\)", reasons["whisper"]), reasons["whisper"]
    assert reasons["no_face"] == "no face"
    assert reasons["notes"].startswith("unreadable")
    assert reasons["missing"] == "file missing"


def test_fix_then_score_is_in_sync(clips, scorer, tmp_path):
    shifted = clips[f"{FRONTAL[0]}+5"]  # audio delayed by 5 frames: reported ≈ base − 5
    before = score_video(shifted, scorer)
    record = fix_video(shifted, tmp_path / "fixed.mp4", scorer=scorer)
    assert record["offset_frames"] == before.offset and record["detected_by"] == "training-free"
    after = score_video(tmp_path / "fixed.mp4", scorer)
    assert after.ok and abs(after.offset) <= 1, (before.offset, after.offset)
    assert video_md5(tmp_path / "fixed.mp4") == video_md5(shifted)  # the video stream was copied, not re-encoded


@pytest.mark.parametrize("suffix,frames,codec", [(".mp4", 5, "copied"), (".mp4", -5, "copied"), (".mov", 2.5, "copied"),
                                                  (".mkv", -5, "re-encoded"), (".mkv", 5, "re-encoded"),
                                                  (".avi", -3, "re-encoded")])
def test_fix_moves_the_audio_by_exactly_the_offset(clips, tmp_path, suffix, frames, codec):
    src = clips[FRONTAL[0]]
    record = shift_audio(src, tmp_path / f"out{suffix}", frames)
    assert record["audio_codec"].startswith(codec) and record["video_codec"] == "copied"
    assert record["audio"] == ("delayed" if frames > 0 else "advanced")
    lag = lag_samples(audio_samples(tmp_path / f"out{suffix}"), audio_samples(src))
    assert abs(lag - frames * SAMPLE_RATE / FPS) <= 2, lag  # the audio moved, by that much
    assert video_md5(tmp_path / f"out{suffix}") == video_md5(src)
    info = probe(tmp_path / f"out{suffix}")
    assert info.has_audio and abs(info.video_seconds - probe(src).video_seconds) < 0.05
    start = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time",
                            "-of", "csv=p=0", str(tmp_path / f"out{suffix}")], capture_output=True, text=True)
    assert abs(float(start.stdout.strip())) < 0.01  # the video still starts at 0: the audio moved, not it


def test_fix_refuses_bad_requests(clips, tmp_path):
    src = clips[FRONTAL[0]]
    with pytest.raises(FixError, match="must not be the input"):
        shift_audio(src, src, 3)
    with pytest.raises(FixError, match="write .3gp, .avi"):
        shift_audio(src, tmp_path / "x.ts", 3)
    ffmpeg("-i", str(src), "-an", "-c:v", "copy", str(tmp_path / "silent_film.mp4"))
    with pytest.raises(FixError, match="no audio stream"):
        shift_audio(tmp_path / "silent_film.mp4", tmp_path / "x.mp4", 3)


def test_unisync_checkpoint_scorer(clips, tmp_path):
    """A (random, tiny) UniSync checkpoint: its Mel × RGB inputs computed from the video on the fly."""
    import torch

    from unisync_model.model.checkpoint import atomic_save, model_record
    from unisync_model.model.unisync import UniSync, UniSyncConfig
    torch.manual_seed(0)
    atomic_save(model_record(UniSync(UniSyncConfig(audio="mel", visual="rgb", width=4, embed_dim=16)).eval()),
                tmp_path / "model.pt")
    scorer = scorer_from_settings("unisync", tmp_path / "model.pt")
    result = score_video(clips[FRONTAL[0]], scorer)
    assert result.scorer == "unisync" and "UniSync mel × rgb" in scorer.description
    # a random model's curve may well fall to the range's edge: the video then answers "beyond the
    # searched range"; its segment has its numbers either way
    assert result.ok or result.verdict == "beyond the searched range", result.reason
    segment = result.segments[0]
    assert SECONDS * FPS - 8 <= segment.windows <= SECONDS * FPS - 4  # ≈ every 5-frame window of 4 s
    assert -15 <= segment.offset <= 15 and 0 <= segment.min_dist <= 2 ** 0.5 + 1e-6


def test_shard_route_matches_the_path_route_and_merges(clips, scorer, tmp_path):
    """The workflow's route: manifest → audio / tracks / landmarks shards → score per shard → merge."""
    from unisync_model.corpora.manifest import build_manifest, write_manifest
    from unisync_model.extract.audio import extract_audio
    from unisync_model.extract.landmarks import extract_landmarks
    from unisync_model.extract.tracks import extract_tracks
    from unisync_model.settings import LandmarksSettings, TracksSettings
    root = tmp_path / "corpus" / "someone"
    root.mkdir(parents=True)
    (root / "talk.mp4").symlink_to(clips[FRONTAL[1]])
    ffmpeg("-i", str(clips[FRONTAL[1]]), "-an", "-c:v", "copy", str(root / "mute.mp4"))
    manifest = build_manifest("folder", tmp_path / "corpus", 1, threads=1)
    write_manifest(manifest, tmp_path / "clips.parquet")
    ok = manifest[manifest["status"] == "ok"]
    shards = tmp_path / "shards"
    extract_audio(ok, shards / "audio" / "000.h5")
    extract_tracks(ok, shards / "tracks" / "000.h5", TracksSettings())
    extract_landmarks(ok, shards / "tracks" / "000.h5", shards / "landmarks" / "000.h5", LandmarksSettings())
    results = {r.clip_id: r for r in score_shard(tmp_path / "clips.parquet", "000", shards, scorer)}
    direct = score_video(clips[FRONTAL[1]], scorer)
    talk = results["someone/talk"]
    assert talk.ok and talk.offset == direct.offset and abs(talk.min_dist - direct.min_dist) < 1e-3
    assert results["someone/mute"].reason == "no audio stream"
    write_outputs(list(results.values()), tmp_path / "out" / "000", scorer)
    write_outputs([direct], tmp_path / "out" / "001", scorer)
    assert merge_outputs([tmp_path / "out" / "000", tmp_path / "out" / "001"], tmp_path / "out") == 3
    merged = pd.read_csv(tmp_path / "out" / "videos.csv", keep_default_na=False)
    assert list(merged.columns) == VIDEO_COLUMNS and len(merged) == 3
    assert all((tmp_path / "out" / p).is_file() for p in merged["plot"] if p)


def test_cli_score_and_fix(clips, tmp_path):
    """`unisync score` (a subprocess) on a clip, a video without audio and a copy of the clip whose first
    audio stream is silent and whose second holds the speech, then `unisync fix` with a given offset, on
    a video without audio, and `score` without inputs."""
    source = clips[f"{FRONTAL[0]}-5"]
    ffmpeg("-i", str(clips[FRONTAL[0]]), "-an", "-c:v", "copy", str(tmp_path / "mute.mp4"))
    two = tmp_path / "second_stream.mp4"  # stream 0: silence (flagged default), stream 1: the speech
    ffmpeg("-i", str(source), "-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={SECONDS}", "-map", "0:v",
           "-map", "1:a", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", "-disposition:a:0", "default",
           "-disposition:a:1", "0", str(two))
    out = tmp_path / "scores"
    run = subprocess.run(["unisync", "score", str(source), str(tmp_path / "mute.mp4"), str(two),
                          "--out-dir", str(out), "--plots"], env=venv_env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "setPreferableTarget" not in run.stderr and "WARN" not in run.stderr  # OpenCV's start-up noise
    videos, segments = pd.read_csv(out / "videos.csv"), pd.read_csv(out / "segments.csv")
    assert list(videos.columns) == VIDEO_COLUMNS and list(segments.columns) == SEGMENT_COLUMNS
    good, mute, second = videos.iloc[0], videos.iloc[1], videos.iloc[2]
    assert run.stdout.splitlines() == [
        f"{source}\tAV offset: {int(good['offset_frames'])}\tMin dist: {good['min_dist']:.3f}\t"
        f"Confidence: {good['confidence']:.3f}\tsearched: ±15 frames\tscorer: training-free",
        f"{tmp_path / 'mute.mp4'}\tno score: no audio stream\tscorer: training-free",
        f"{two}\tAV offset: {int(second['offset_frames'])}\tMin dist: {second['min_dist']:.3f}\t"
        f"Confidence: {second['confidence']:.3f}\tsearched: ±15 frames\tscorer: training-free",
        f"scored 2 of 3 videos (no audio stream × 1); outputs in {out}"]
    assert good["audio_stream"] == 0 and pd.isna(mute["audio_stream"]) and second["audio_stream"] == 1
    assert second["offset_frames"] == good["offset_frames"] and abs(second["min_dist"] - good["min_dist"]) < 0.02
    assert good["status"] == "ok" and good["scorer"] == "training-free" and pd.isna(good["reason"])
    assert good["offset_ms"] == good["offset_frames"] * 40 and abs(good["offset_frames"] - 5) <= 1  # advanced by 5
    assert good["windows"] >= SECONDS * FPS - 20
    assert_figure(out / good["plot"])
    assert mute["status"] == "no score" and mute["reason"] == "no audio stream" and pd.isna(mute["offset_frames"])
    assert pd.isna(mute["plot"]) and segments["clip_id"].tolist() == [good["clip_id"], second["clip_id"]]
    record = json.loads((out / "scores.json").read_text())
    assert record["scorer"] == "training-free" and record["description"].startswith("TRAINING-FREE")
    assert record["offsets"][0] == 15 and "audio leads" in record["convention"]
    video = record["videos"][0]
    assert len(video["curve"]) == 31 and video["offset_frames"] == 15 - int(np.argmin(video["curve"]))
    assert len(video["segment_scores"][0]["frame_confidence"]) == good["windows"]

    # the other entry points in-process (each `unisync` process spends seconds importing torch)
    from click.testing import CliRunner

    from unisync_model.cli import main
    fixed = tmp_path / "fixed.mp4"
    run = CliRunner().invoke(main, ["fix", str(clips[FRONTAL[0]]), "--out", str(fixed), "--offset", "3"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output.strip().splitlines()[-1])["audio"] == "delayed" and fixed.is_file()
    run = CliRunner().invoke(main, ["fix", str(tmp_path / "mute.mp4"), "--out", str(tmp_path / "f.mp4"), "--offset", "1"])
    assert run.exit_code != 0 and "no audio stream" in run.output
    run = CliRunner().invoke(main, ["score", "--out-dir", str(out)])
    assert run.exit_code != 0 and "either PATHS or --manifest" in run.output
    run = CliRunner().invoke(main, ["score", str(two), "--audio-stream", "0", "--out-dir", str(tmp_path / "s0")])
    assert run.exit_code == 1 and "no score: silent audio (digital silence)" in run.output, run.output
    run = CliRunner().invoke(main, ["score", str(two), "--audio-stream", "2", "--out-dir", str(tmp_path / "s2")])
    assert run.exit_code == 1 and "no audio stream 2: the file has 2 audio streams" in run.output, run.output

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_latentsync_per_video_numbers_are_the_mean_over_scored_segments():
    """videos.csv's track_mean_* columns: LatentSync's aggregation (each face track's own numbers, then their
    mean), beside the pooled curve's; segments without a score do not count, a video without one has none."""
    from unisync_model.scoring.results import SegmentScore, VideoScore
    segments = [SegmentScore(0, 0, 50, offset=2, min_dist=0.5, confidence=0.25),
                SegmentScore(1, 60, 200, offset=-1, min_dist=0.75, confidence=0.5),
                SegmentScore(2, 210, 212, reason="segment too short")]
    row = VideoScore("v.mp4", "v", "training-free", offset=0, min_dist=0.6, confidence=0.4, segments=segments).row()
    assert (row["track_mean_offset"], row["track_mean_confidence"], row["track_mean_min_dist"]) == (0.5, 0.375, 0.625)
    assert (row["offset_frames"], row["segments"], row["segments_scored"]) == (0, 3, 2)
    unscored = VideoScore("w.mp4", "w", "training-free", reason="no face", segments=segments).row()
    assert unscored["track_mean_offset"] is None and unscored["track_mean_min_dist"] is None
    assert list(row) == VIDEO_COLUMNS
