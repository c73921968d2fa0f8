"""docs/architecture.md's walk-through, followed: a throw-away visual representation (the distance
between the mouth corners over the face box's width, from the track's keypoints) written as one
module (this one) and one registry entry, then taken without any other change by the stage
command, the model, the trainer and the unisync scorer."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from unisync_model import representations
from unisync_model.cli import _representation_command
from unisync_model.corpora.manifest import write_manifest
from unisync_model.extract.stage import run_stage
from unisync_model.io.av_timing import MEL_RATE
from unisync_model.io.shards import ShardReader, ShardWriter
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
from unisync_model.model.checkpoint import load_model
from unisync_model.model.unisync import UniSync, UniSyncConfig, example_inputs
from unisync_model.representations import VISUAL, Representation
from unisync_model.settings import FPS, SAMPLE_RATE, TrainSettings, from_dict, to_dict

NAME = "mouth_width"
COLUMN = {c: TRACK_COLUMNS.index(c) for c in ("x1", "x2", "rmouth_x", "rmouth_y", "lmouth_x", "lmouth_y")}


# ---------------------------------------------------------------- the new representation's module


@dataclass(frozen=True)
class MouthWidthSettings:
    scale: float = 1.0


def mouth_width(track: np.ndarray, settings: MouthWidthSettings) -> np.ndarray:
    corners = np.hypot(track[:, COLUMN["lmouth_x"]] - track[:, COLUMN["rmouth_x"]],
                       track[:, COLUMN["lmouth_y"]] - track[:, COLUMN["rmouth_y"]])
    face = np.maximum(track[:, COLUMN["x2"]] - track[:, COLUMN["x1"]], 1e-3)
    return (settings.scale * corners / face)[:, None].astype(np.float32)


def extract_mouth_width(clips, tracks_shard, out, settings: MouthWidthSettings):
    tracks = ShardReader(tracks_shard)
    return run_stage(tracks.clip_ids, lambda clip_id: mouth_width(tracks.read(clip_id), settings), out, NAME,
                     {"settings": to_dict(settings)}, upstream_skipped=tracks.skipped)


def clip_computer(settings: MouthWidthSettings, device=None):
    return lambda clip: mouth_width(clip.track, settings)


ENTRY = Representation(
    name=NAME, modality=VISUAL, settings=MouthWidthSettings, frame_shape=(1,),
    summary="Mouth corner distance over face width, per frame.",
    extractor=f"{__name__}:extract_mouth_width", per_clip=f"{__name__}:clip_computer",
    preprocess="unisync_model.model.unisync:FramesPreprocess")


# ---------------------------------------------------------------- the test


CLIPS = {"a/1": ("a", "train", 80), "b/1": ("b", "train", 80), "c/1": ("c", "val", 60)}


@pytest.fixture
def registered():
    representations.register(ENTRY)
    yield ENTRY
    representations.REGISTRY.pop(NAME)


def random_track(rng, n: int) -> np.ndarray:
    track = np.zeros((n, len(TRACK_COLUMNS)), np.float32)
    track[:, COLUMN["x1"]], track[:, COLUMN["x2"]] = 100, 200
    track[:, COLUMN["rmouth_x"]] = 130 + rng.normal(0, 3, n)
    track[:, COLUMN["lmouth_x"]] = 170 + rng.normal(0, 3, n)
    track[:, COLUMN["rmouth_y"]] = track[:, COLUMN["lmouth_y"]] = 170
    track[:, SEGMENT] = 0
    return track


def make_corpus(root):
    """A manifest, a tracks shard and a Mel shard for CLIPS."""
    rng = np.random.default_rng(0)
    write_manifest(pd.DataFrame([{"clip_id": c, "speaker": spk, "split": split, "shard": "000", "status": "ok"}
                                 for c, (spk, split, _) in CLIPS.items()]), root / "clips.parquet")
    shards = root / "shards"
    with ShardWriter(shards / "tracks" / "000.h5", "tracks") as tracks, \
            ShardWriter(shards / "mel" / "000.h5", "mel") as mel:
        for clip_id, (_, _, n) in CLIPS.items():
            tracks.add(clip_id, random_track(rng, n))
            mel.add(clip_id, rng.standard_normal((math.ceil(n * MEL_RATE / FPS) + 1, 80)).astype(np.float32))
    return shards


def test_a_new_representation_runs_through_command_model_trainer_and_scorer(registered, tmp_path):
    shards = make_corpus(tmp_path)
    # the stage command, made from the entry
    command = _representation_command(registered)
    out = shards / NAME / "000.h5"
    run = CliRunner().invoke(command, ["--manifest", str(tmp_path / "clips.parquet"), "--shard", "000",
                                       "--tracks", str(shards / "tracks" / "000.h5"), "--out", str(out),
                                       "--settings", '{"scale": 2.0}'])
    assert run.exit_code == 0, run.output
    reader = ShardReader(out)
    track = ShardReader(shards / "tracks" / "000.h5").read("a/1")
    assert np.allclose(reader.read("a/1"), mouth_width(track, MouthWidthSettings(2.0)))

    # the model builds it with its registered ε1 and the registry's frame shape
    config = UniSyncConfig(audio="mel", visual=NAME, width=4, embed_dim=16)
    assert config.visual_frame == (1,)
    p = UniSync(config).eval()(*example_inputs(config, batch=3))
    assert p.shape == (3,) and bool(((p >= 0) & (p <= 1)).all())

    # the trainer reads its shard
    from unisync_model.training.trainer import train
    torch.manual_seed(0)
    settings = from_dict(TrainSettings, {"epochs": 1, "batch_size": 8, "windows_per_epoch": 32, "val_pairs": 8,
                                          "workers": 0, "model": {"width": 4, "embed_dim": 16}})
    model_path = train(tmp_path / "clips.parquet", shards, ["000"], "mel", NAME, tmp_path / "model", settings)
    model = load_model(model_path, torch.device("cpu"))
    assert model.config.visual == NAME and model.config.visual_frame == (1,)

    # the unisync scorer computes it (and the Mel) for a clip in memory, through the registry
    from unisync_model.scoring.scorers import ClipData, make_scorer
    scorer = make_scorer("unisync", model_path, device=torch.device("cpu"))
    rng = np.random.default_rng(1)
    clip = ClipData(clip_id="x", path=None, track=random_track(rng, 50),
                    samples=rng.normal(0, 0.1, 2 * SAMPLE_RATE).astype(np.float32))
    scorer.prepare(clip)
    assert clip.arrays[NAME].shape == (50, 1) and clip.arrays["mel"].shape[1] == 80
    [segment] = scorer.embed(clip)
    assert segment.reason is None and segment.visual.shape[0] == segment.audio.shape[0] > 0


def test_registering_needs_a_known_modality():
    with pytest.raises(ValueError, match="modality"):
        representations.register(Representation(
            name="x", modality="smell", settings=MouthWidthSettings, frame_shape=(1,), summary="",
            extractor="", per_clip="", preprocess=""))
    assert "x" not in representations.REGISTRY
