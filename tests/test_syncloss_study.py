"""The SyncLoss study (docs/syncloss.md): the talking-mouth generator, its two training arms, and the
study's table, on tiny synthetic shards and a tiny random expert (seconds on a CPU)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from helpers.learnable import one_segment_track, write_one_shard_manifest
from test_sync_loss import tiny_checkpoint

from unisync_model.cli import main
from unisync_model.evaluation.syncloss_study import paste_lower_faces, summarise
from unisync_model.extract.rgb import crop_lower_face
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.io.shards import ShardWriter
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.model.expert_loss import SyncLoss
from unisync_model.settings import FPS, RgbSettings, SyncLossSettings
from unisync_model.training.mouth_generator import (
    REFERENCE_GAP,
    BatchSampler,
    MouthGenerator,
    MouthGeneratorConfig,
    load_generator,
    load_segments,
    reference_frame,
    train_generator,
)

FRAMES = 30


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def tiny_corpus(root, clips=(("a/1", "a", "train"), ("a/2", "a", "train"), ("b/1", "b", "test"),
                             ("b/2", "b", "test"))):
    """rgb, mel and tracks shards of a few clips whose 'mouth' (a bright bar's height, and the brightness
    of a strip below it) follows the loudness of a Mel band, and their manifest."""
    rng = np.random.default_rng(0)
    with ShardWriter(root / "shards" / "rgb" / "000.h5", "rgb") as rgb, \
            ShardWriter(root / "shards" / "mel" / "000.h5", "mel") as mel, \
            ShardWriter(root / "shards" / "tracks" / "000.h5", "tracks") as tracks:
        for clip_id, _, _ in clips:
            loud = rng.uniform(0, 1, FRAMES)
            frames = np.full((FRAMES, 48, 96, 3), 60, np.uint8)
            for t, level in enumerate(loud):
                frames[t, 20:20 + 1 + int(20 * level), 30:66] = 220
                frames[t, 44:] = 40 + 180 * level  # and a strip across the chin: plenty for L1 to learn
            n = math.ceil(FRAMES * MEL_RATE / FPS) + 1
            features = rng.normal(0, 0.1, (n, 80)).astype(np.float32)
            features[:, :10] += loud[np.minimum(np.arange(n) * FPS // MEL_RATE, FRAMES - 1)][:, None]
            rgb.add(clip_id, frames)
            mel.add(clip_id, features)
            tracks.add(clip_id, one_segment_track(FRAMES))
    write_one_shard_manifest(clips, root / "clips.parquet")
    return root


def test_generator_shape_range_and_starts_from_the_reference():
    torch.manual_seed(0)
    generator = MouthGenerator(MouthGeneratorConfig(width=4, audio_dim=8)).eval()
    reference = torch.randint(0, 256, (3, 48, 96, 3), dtype=torch.uint8)
    out = generator(reference, torch.randn(3, 16, 80))
    assert out.shape == (3, 5, 48, 96, 3) and out.dtype == torch.float32
    assert 0.0 <= float(out.detach().min()) and float(out.detach().max()) <= 1.0
    # before training it draws the reference (its pixels clamped to the logit's edge)
    expected = (reference.float() / 255).clamp(0.01, 0.99).unsqueeze(1).expand_as(out)
    assert torch.allclose(out, expected, atol=1e-5)


def test_references_are_far_from_their_window():
    for first, stop in ((0, 30), (7, 60)):
        for start in range(first, stop - 4):
            ref = reference_frame(start, first, stop)
            assert first <= ref < stop
            assert ref <= start - REFERENCE_GAP or ref >= start + 4 + REFERENCE_GAP


def test_sampler_draws_the_same_batches_from_a_seed_and_references_away_from_the_window(tmp_path):
    root = tiny_corpus(tmp_path)
    segments = load_segments(root / "clips.parquet", root / "shards", ["000"], "train")
    assert [s.clip_id for s in segments] == ["a/1", "a/2"]
    first = BatchSampler(segments, seed=3).batch(6)
    again = BatchSampler(segments, seed=3).batch(6)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    reference, target, mel = first
    assert reference.shape == (6, 48, 96, 3) and target.shape == (6, 5, 48, 96, 3) and mel.shape == (6, 16, 80)
    sampler = BatchSampler(segments, seed=1)
    for _ in range(50):
        seg = segments[0]
        start = seg.first + 3
        ref = sampler._reference(seg, start)
        assert ref <= start - REFERENCE_GAP or ref >= start + 4 + REFERENCE_GAP


def test_a_few_steps_lower_the_l1(tmp_path):
    root = tiny_corpus(tmp_path)
    tiny_checkpoint(tmp_path / "expert.pt")
    settings = SyncLossSettings(steps=100, batch_size=4, lr=3e-3, width=8, log_every=25)
    record = train_generator(root / "clips.parquet", root / "shards", ["000"], tmp_path / "expert.pt",
                             tmp_path / "l1" / "generator.pt", settings, weight=0.0)
    l1 = [row["l1"] for row in record["log"]]
    assert len(l1) == 4 and l1[-1] < 0.8 * l1[0]  # measured: 0.054 → 0.033
    log = pd.read_csv(tmp_path / "l1" / "training.csv")
    assert list(log["step"]) == [25, 50, 75, 100] and np.allclose(log["l1"], l1)
    generator, saved = load_generator(tmp_path / "l1" / "generator.pt")
    assert not generator.training and saved["weight"] == 0.0 and saved["settings"]["steps"] == 100


def test_sync_term_reaches_the_generator_and_not_the_expert(tmp_path):
    tiny_checkpoint(tmp_path / "expert.pt")
    sync_loss = SyncLoss(tmp_path / "expert.pt", device=torch.device("cpu"))
    torch.manual_seed(0)
    generator = MouthGenerator(MouthGeneratorConfig(width=4, audio_dim=8)).train()
    faces = generator(torch.randint(0, 256, (2, 48, 96, 3), dtype=torch.uint8), torch.randn(2, 16, 80))
    sync_loss(faces, torch.randn(2, 16, 80)).backward()  # the sync term alone
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert float(generator.head[-1].weight.grad.abs().sum()) > 0  # the layer that draws the change
    assert all(p.grad is None and not p.requires_grad for p in sync_loss.expert.parameters())


def test_both_arms_see_the_same_batches_and_differ_only_by_the_sync_term(tmp_path):
    root = tiny_corpus(tmp_path)
    tiny_checkpoint(tmp_path / "expert.pt")
    settings = SyncLossSettings(steps=3, batch_size=2, width=4, log_every=1)
    args = (root / "clips.parquet", root / "shards", ["000"], tmp_path / "expert.pt")
    plain = train_generator(*args, tmp_path / "l1.pt", settings, weight=0.0)
    synced = train_generator(*args, tmp_path / "sync.pt", settings, weight=0.5)
    # step 1: the same initial generator on the same batch; after it the losses part
    assert plain["log"][0]["l1"] == synced["log"][0]["l1"]
    assert plain["log"][0]["sync_loss"] == synced["log"][0]["sync_loss"]
    assert plain["log"][2]["l1"] != synced["log"][2]["l1"]
    again = train_generator(*args, tmp_path / "l1_again.pt", settings, weight=0.0)
    assert [r["l1"] for r in again["log"]] == [r["l1"] for r in plain["log"]]


def test_study_writes_both_arms_and_the_real_clips(tmp_path):
    root = tiny_corpus(tmp_path)
    tiny_checkpoint(tmp_path / "judge.pt", seed=1)
    tiny_checkpoint(tmp_path / "expert.pt")
    runner = CliRunner()
    settings = '{"steps": 2, "batch_size": 2, "width": 4, "log_every": 1}'
    for arm in ("l1", "syncloss"):
        result = runner.invoke(main, ["syncloss-train", "--manifest", str(root / "clips.parquet"),
                                      "--shards-dir", str(root / "shards"), "--shards", "000",
                                      "--expert", str(tmp_path / "expert.pt"), "--arm", arm,
                                      "--out", str(tmp_path / arm / "generator.pt"), "--settings", settings])
        assert result.exit_code == 0, result.output
    out = tmp_path / "study"
    result = runner.invoke(main, ["syncloss-study", "--manifest", str(root / "clips.parquet"),
                                  "--shards-dir", str(root / "shards"), "--shards", "000",
                                  "--generator", f"l1={tmp_path / 'l1' / 'generator.pt'}",
                                  "--generator", f"syncloss={tmp_path / 'syncloss' / 'generator.pt'}",
                                  "--judge", str(tmp_path / "judge.pt"), "--no-training-free", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "table.csv")
    assert list(table["arm"]) == ["real", "l1", "syncloss"]
    assert (table["segments"] == 2).all()  # the two test clips
    assert table.loc[0, "l1"] == 0 and (table.loc[1:, "l1"] > 0).all()
    assert table["judge_in_sync"].between(0, 1).all() and (table["judge_lse_c"] >= 0).all()
    clips = pd.read_csv(out / "clips.csv")
    assert set(clips["clip_id"]) == {"b/1", "b/2"}
    text = (out / "table.md").read_text()
    assert "| syncloss" in text and "judge_lse_c" in text and "judge.pt" in text


def test_summarise_counts_the_training_free_scores_per_arm():
    clip_rows = pd.DataFrame({"arm": ["real", "real", "g", "g"], "clip_id": ["x", "y", "x", "y"],
                              "speaker": "s", "first_frame": 0, "windows": 10, "l1": [0, 0, 0.1, 0.3],
                              "judge_offset": [0, 1, 5, -1], "judge_in_sync": [1.0, 1.0, 0.0, 1.0],
                              "judge_lse_d": 0.5, "judge_lse_c": 0.2, "judge_p_sync": 0.7,
                              "video": ["x.mp4", "y.mp4", "g/x.mp4", "g/y.mp4"]})
    scored = pd.DataFrame({"video": ["x.mp4", "y.mp4", "g/x.mp4", "g/y.mp4"],
                           "status": ["ok", "ok", "ok", "no score"], "offset_frames": [0, -2, 1, None],
                           "confidence": [1.0, 0.5, 0.1, None], "verdict": ["in sync", "out of sync", "uncertain",
                                                                             "no score"]})
    table = summarise(clip_rows, scored).set_index("arm")
    assert table.loc["g", "judge_in_sync"] == 0.5 and table.loc["g", "judge_abs_offset"] == 3
    assert table.loc["g", "l1"] == pytest.approx(0.2)
    assert table.loc["real", "tf_scored"] == 2 and table.loc["real", "tf_in_sync"] == 0.5
    assert table.loc["g", "tf_scored"] == 1 and table.loc["g", "tf_in_sync"] == 1.0
    assert table.loc["g", "tf_verdict_in_sync"] == 0.0 and table.loc["real", "tf_confidence"] == 0.75


def test_pasting_a_frames_own_crop_back_leaves_it_unchanged():
    settings = RgbSettings()
    rng = np.random.default_rng(0)
    frame = cv_smooth(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    face = np.zeros(len(TRACK_COLUMNS), np.float32)
    face[:4] = [50, 20, 110, 90]
    face[TRACK_COLUMNS.index("rmouth_x")], face[TRACK_COLUMNS.index("lmouth_x")] = 70, 90
    crop = crop_lower_face(frame, face, settings)
    same = paste_lower_faces(frame, face, crop, settings)
    assert np.abs(same.astype(int) - frame).mean() < 2.0
    black = paste_lower_faces(frame, face, np.zeros_like(crop), settings)
    changed = np.abs(black.astype(int) - frame).sum(-1) > 30
    assert changed[70:85, 60:100].mean() > 0.9  # the lower face
    assert not changed[:40].any() and not changed[:, :30].any()  # the rest of the frame


def cv_smooth(image: np.ndarray) -> np.ndarray:
    """A random image smoothed, so that resampling it twice changes little."""
    return F.avg_pool2d(torch.from_numpy(image).permute(2, 0, 1).float()[None], 9, 1, 4)[0].permute(
        1, 2, 0).round().byte().numpy()


def test_written_video_keeps_frames_and_audio_and_changes_only_drawn_frames(tmp_path):
    import subprocess

    from unisync_model.evaluation.syncloss_study import write_video
    from unisync_model.io.media import probe, video_frames
    source = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=160x120:r=25:d=0.4",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=0.4", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source)], check=True)
    n = len(list(video_frames(source)))
    track = np.zeros((n, len(TRACK_COLUMNS)), np.float32)
    track[:, :4] = [50, 20, 110, 90]
    track[:, TRACK_COLUMNS.index("rmouth_x")], track[:, TRACK_COLUMNS.index("lmouth_x")] = 70, 90
    drawn = {2: np.zeros((48, 96, 3), np.uint8), 3: np.zeros((48, 96, 3), np.uint8)}
    write_video(source, track, drawn, tmp_path / "out.mp4", RgbSettings())
    assert probe(tmp_path / "out.mp4").has_audio
    before, after = list(video_frames(source)), list(video_frames(tmp_path / "out.mp4"))
    assert len(after) == n
    darker = [float((b.astype(int) - a).clip(0).mean()) for b, a in zip(before, after)]
    untouched = [darker[k] for k in range(n) if k not in drawn]
    # re-encoding moves the flat grey by a few levels everywhere (colour conversion), the same in every frame
    assert max(untouched) - min(untouched) < 1
    assert min(darker[2], darker[3]) > max(untouched) + 10, darker
