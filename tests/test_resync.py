"""The resync stage: training segments scored, then kept, shifted (when windows are read) or dropped.

Unit tests of the decision rule and of reading windows with shifted audio, then the issue's test
corpus: a demo corpus with 30 % of its training clips' audio shifted by ffmpeg by 3–10 frames either
way, scored from its extraction shards as the workflow does: resync must find ≥ 90 % of the shifted
clips within ±1 frame of their shift and leave ≥ 90 % of the others as they are, with a row for every
train / val clip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from unisync_model.scoring.resync import decide, min_confidence, segment_decisions
from unisync_model.scoring.results import SegmentScore, VideoScore
from unisync_model.settings import ResyncSettings
from unisync_model.training.pairs import Plan
from unisync_model.training.resync_table import DECISION_COLUMNS, read_decisions
from unisync_model.training.windows import WindowDataset, segment_windows

RULE = ResyncSettings(keep_within=1, max_offset=10, min_confidence=0.2)


@pytest.mark.parametrize("offset, confidence, expected", [
    (0, 0.5, ("keep", 0)), (1, 0.5, ("keep", 0)), (-1, 0.5, ("keep", 0)),
    (4, 0.5, ("shift", -4)), (-7, 0.5, ("shift", 7)), (10, 0.5, ("shift", -10)),
    (11, 0.9, ("drop", 0)), (-12, 0.9, ("drop", 0)), (3, 0.1, ("drop", 0))])
def test_the_decision_rule(offset, confidence, expected):
    decision, shift, why = decide(offset, confidence, None, RULE, 0.2)
    assert (decision, shift) == expected
    assert bool(why) == (decision == "drop")


def test_a_segment_without_a_score_is_dropped_with_its_reason():
    assert decide(None, None, "no speech", RULE, 0.2) == ("drop", 0, "no speech")


def test_the_confidence_floor_is_the_scorers_unless_given():
    assert min_confidence(ResyncSettings(), "training-free", 0.18) == 0.18
    assert min_confidence(ResyncSettings(min_confidence=3.0), "syncnet", None) == 3.0
    with pytest.raises(ValueError, match="min_confidence"):
        min_confidence(ResyncSettings(), "syncnet", None)


def test_every_segment_and_every_unscored_clip_gets_a_row(tmp_path):
    scored = VideoScore(video="a.mp4", clip_id="a", scorer="training-free", offset=5, confidence=0.4, frames=90,
                        segments=[SegmentScore(0, 0, 40, offset=5, confidence=0.4, windows=26),
                                  SegmentScore(1, 50, 90, reason="too short")])
    unscored = VideoScore(video="b.mp4", clip_id="b", scorer="training-free", reason="no face", frames=30)
    table = segment_decisions([scored, unscored], {"a": "train", "b": "val"}, RULE, 0.2)
    assert list(table.columns) == DECISION_COLUMNS
    assert table[["clip_id", "segment", "decision", "audio_shift"]].values.tolist() == [
        ["a", 0, "shift", -5], ["a", 1, "drop", 0], ["b", -1, "drop", 0]]
    assert table["reason"].tolist() == ["", "too short", "no face"]
    table.to_csv(tmp_path / "d.csv", index=False)
    assert read_decisions(tmp_path / "d.csv")["audio_shift"].tolist() == [-5, 0, 0]
    table.assign(decision="maybe").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="unknown decision"):
        read_decisions(tmp_path / "bad.csv")


@pytest.mark.parametrize("shift", [-7, -3, 0, 2, 6])
def test_shifted_windows_stay_inside_both_streams(shift):
    """Every start a segment gives has its 5 frames in the segment and its audio window, read
    `shift` frames from the mouth, inside the audio; and no valid start is left out."""
    from unisync_model.io.av_timing import audio_features, window_count
    start_of, length, _ = audio_features("mel")
    visual_frames, mel_frames = 100, 318
    (first, windows), = segment_windows([(4, 90)], visual_frames, mel_frames, "mel", shift)
    valid = [s for s in range(4, 86) if 0 <= s + shift and start_of(s + shift) + length <= mel_frames]
    assert list(range(first, first + windows)) == valid
    if shift == 0:
        assert first + windows == window_count(90, mel_frames, "mel")


def test_the_dataset_reads_the_audio_shifted():
    """A synced pair of a shifted segment is the visual window at s and the audio window at s + shift."""
    class Reader:
        def __init__(self, frames, shape):
            self.data = np.arange(frames * int(np.prod(shape)), dtype=np.float32).reshape(frames, *shape)
            self.frame_shape, self.dtype = shape, np.dtype(np.float32)

        def read(self, clip_id, start, stop):
            return self.data[start:stop]

    from unisync_model.io.av_timing import mel_start
    visual, audio = Reader(100, (2,)), Reader(320, (1,))
    clips = pd.DataFrame({"clip_id": ["a"], "shard": ["000"], "first_frame": [10], "windows": [50],
                          "audio_shift": [4]})
    plan = Plan(visual_clip=np.array([0]), visual_start=np.array([3]), audio_clip=np.array([0]),
                audio_start=np.array([3]), label=np.array([1]), kind=np.array([0]))
    v, a, label, _ = WindowDataset(clips, plan, {"000": visual}, {"000": audio}, "mel")[0]
    assert v[0, 0] == visual.data[13, 0]
    assert a[0, 0] == audio.data[mel_start(17), 0]


@pytest.mark.slow
def test_resync_finds_the_shifted_clips_of_a_demo_corpus(tmp_path, yunet_weights):
    from unisync_model.cli import main
    from unisync_model.corpora.demo import make_demo_corpus
    from unisync_model.corpora.demo.shifted_audio import SHIFTS_CSV
    from unisync_model.corpora.manifest import build_manifest, write_manifest
    from unisync_model.extract.audio import extract_audio
    from unisync_model.extract.landmarks import extract_landmarks
    from unisync_model.extract.tracks import extract_tracks
    from unisync_model.settings import LandmarksSettings, TracksSettings

    root = tmp_path / "demo"
    make_demo_corpus(root, speakers=12, clips_per_speaker=4, split_speakers={"train": 10, "val": 1, "test": 1},
                     seed=5, size=128, shift_share=0.3, shift_frames=(3, 10))
    truth = pd.read_csv(root / SHIFTS_CSV).set_index("clip_id")
    assert len(truth) == 40 and (truth["delay_frames"] != 0).sum() == 12
    assert truth.loc[truth["delay_frames"] != 0, "delay_frames"].abs().between(3, 10).all()
    manifest = build_manifest("lrs2", root, 1, threads=1)
    write_manifest(manifest, tmp_path / "clips.parquet")
    shards = tmp_path / "shards"
    extract_audio(manifest, shards / "audio" / "000.h5")
    extract_tracks(manifest, shards / "tracks" / "000.h5", TracksSettings())
    extract_landmarks(manifest, shards / "tracks" / "000.h5", shards / "landmarks" / "000.h5", LandmarksSettings())

    out = tmp_path / "resync" / "000.csv"
    run = CliRunner().invoke(main, ["resync", "--manifest", str(tmp_path / "clips.parquet"), "--shard", "000",
                                    "--shards-dir", str(shards), "--out", str(out)])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(main, ["resync-merge", str(out), "--out", str(tmp_path / "decisions.csv"),
                                    "--histogram", str(tmp_path / "offsets.png")])
    assert run.exit_code == 0, run.output
    decisions = read_decisions(tmp_path / "decisions.csv")
    assert (tmp_path / "offsets.png").stat().st_size > 0
    # every train and val clip has its decision, no test clip has one
    listed = manifest.set_index("clip_id")["split"]
    assert set(decisions["clip_id"]) == set(listed[listed.isin(["train", "val"])].index)

    clip = decisions[decisions["segment"] >= 0].groupby("clip_id").first().join(truth, how="inner")
    shifted, unshifted = clip[clip["delay_frames"] != 0], clip[clip["delay_frames"] == 0]
    print("\n", clip[["offset_frames", "confidence", "decision", "audio_shift", "delay_frames"]].to_string())
    assert len(clip) == 40
    # found: the offset within a frame of the one the ffmpeg shift made, and never kept as it is; the
    # shifted ones then read their audio within a frame of where the shift put it (others: beyond max_offset)
    found = (shifted["offset_frames"] - shifted["expected_offset"]).abs() <= 1
    assert found.mean() >= 0.9, f"{found.sum()} of {len(shifted)} shifted clips found"
    assert (shifted["decision"] != "keep").all()
    moved = shifted[shifted["decision"] == "shift"]
    assert len(moved) >= 0.8 * len(shifted) and ((moved["audio_shift"] - moved["delay_frames"]).abs() <= 1).all()
    kept = unshifted["decision"] == "keep"
    assert kept.mean() >= 0.9, f"{kept.sum()} of {len(unshifted)} unshifted clips kept"


def test_the_clip_report_says_what_resync_did_to_each_clip():
    from unisync_model.reporting.clip_report import resync_columns
    decisions = pd.DataFrame({
        "clip_id": ["a", "a", "b"], "segment": [0, 1, -1], "decision": ["shift", "drop", "drop"],
        "windows": [10, 40, 0], "offset_frames": [4, 5, None], "confidence": [0.5, 0.1, None],
        "audio_shift": [-4, 0, 0], "reason": ["", "confidence 0.100 < 0.18", "no face"]})
    columns = resync_columns(decisions)
    assert columns.loc["a", "resync"] == "shift; drop" and columns.loc["b", "resync"] == "drop"
    assert columns.loc["a", "resync_offset_frames"] == 5  # the longest segment's numbers
    assert columns.loc["b", "resync_reason"] == "no face"
