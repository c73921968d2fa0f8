"""The tdmm stage: 3DDFA_V2's MobileNet regressor loaded from the real mb05 checkpoint, its pose on
real faces (frontal, turned, mirrored), the shard it writes, and the mb1 architecture through the
same loading path."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from helpers import SHARED, SHARED_WEIGHTS

from unisync_model.corpora.manifest import build_manifest
from unisync_model.extract.mobilenet_3ddfa import BLOCKS, MobileNet3DDFA, load_mobilenet, upstream_state_dict
from unisync_model.extract.tdmm import (EXPRESSION, POSE, SHAPE, TdmmRegressor, crop_roi, extract_tdmm, pose_angles,
                                        roi_boxes)
from unisync_model.extract.tracks import extract_tracks
from unisync_model.io.media import video_frames
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.io.weights import resolve
from unisync_model.settings import TdmmSettings, TracksSettings

MB05 = "3ddfa_v2_mb05_120x120.pth"
MEAN_STD = "3ddfa_v2_param_mean_std_62d_120x120.npz"
REAL = SHARED / "data" / "clips" / "real"
FRONTAL = "hdtf_WDA_KatieHill_000"  # facing the camera in its first second (|yaw| ≈ 3°)
TURNED = "lrs2_deepavsr_00001"  # turned throughout (yaw ≈ −23°, nose right of the eyes in the image)
FRAMES = 40


@pytest.fixture(scope="module")
def real_weights() -> dict[str, Path]:
    paths = {name: SHARED_WEIGHTS / name for name in (MB05, MEAN_STD)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        pytest.skip(f"needs the real 3DDFA_V2 files {missing} in {SHARED_WEIGHTS} (../shared is absent here)")
    return paths


@pytest.fixture(scope="module")
def real_tracks(tmp_path_factory, yunet_weights, real_weights):
    """The first 1.6 s (40 frames) of two real clips, their manifest and tracks shard."""
    sources = [REAL / f"{name}.mp4" for name in (FRONTAL, TURNED)]
    if not all(s.is_file() for s in sources):
        pytest.skip(f"needs the real clips {[s.name for s in sources]} in {REAL} (../shared is absent here)")
    root = tmp_path_factory.mktemp("tdmm_clips")
    folder = root / "clips"
    folder.mkdir()
    for source in sources:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-t", str(FRAMES / 25),
                        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-c:a", "aac",
                        str(folder / source.name)], check=True)
    clips = build_manifest("folder", folder, 1)
    tracks = root / "tracks.h5"
    extract_tracks(clips, tracks, TracksSettings(weights=str(yunet_weights)))
    return clips, tracks


def real_settings(paths: dict[str, Path], **changes) -> TdmmSettings:
    return TdmmSettings(weights=str(paths[MB05]), mean_std=str(paths[MEAN_STD]), **changes)


def frames_and_boxes(clips, tracks, name: str) -> tuple[list[np.ndarray], np.ndarray]:
    path = clips.set_index("clip_id").loc[name, "path"]
    track = ShardReader(tracks).read(name)
    frames = list(video_frames(path))
    assert len(frames) == len(track) == FRAMES
    return frames, track


def test_the_real_checkpoint_loads_strictly_and_every_tensor_is_used(real_weights):
    model = load_mobilenet(resolve(MB05), "mb05")  # by name, through $UNISYNC_WEIGHTS
    record = torch.load(real_weights[MB05], map_location="cpu", weights_only=True)
    in_file = {k.removeprefix("module."): v for k, v in record["state_dict"].items()}
    state = model.state_dict()
    assert set(state) == set(in_file)
    assert all(torch.equal(state[k], in_file[k]) for k in state)
    assert model.conv1.out_channels == 16 and model.fc_param.in_features == 512 and not model.training
    with pytest.raises(ValueError, match="arch.*mb05"):  # the wrong width is named, not a shape dump only
        load_mobilenet(real_weights[MB05], "mb1")


def test_pose_angles_invert_a_known_rotation():
    rng = np.random.default_rng(0)
    angles = np.column_stack([rng.uniform(-70, 70, 20), rng.uniform(-40, 40, 20), rng.uniform(-40, 40, 20)])
    params = np.zeros((20, 62), np.float32)
    for k, (yaw, pitch, roll) in enumerate(np.radians(angles)):
        # R = Rz(roll) · Ry(−yaw) · Rx(pitch): then R[2,0] = sin(yaw), as upstream's matrix2angle reads it
        rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
        ry = np.array([[np.cos(-yaw), 0, np.sin(-yaw)], [0, 1, 0], [-np.sin(-yaw), 0, np.cos(-yaw)]])
        rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        P = np.hstack([5e-4 * rz @ ry @ rx, [[60.0], [70.0], [-60.0]]])  # scaled, with a translation
        params[k, POSE] = P.ravel()
    np.testing.assert_allclose(pose_angles(params), angles, atol=0.05)
    assert pose_angles(params[0]).shape == (1, 3)
    assert (POSE.stop, SHAPE.stop - SHAPE.start, EXPRESSION.stop - EXPRESSION.start) == (12, 40, 10)


def test_the_region_of_interest_is_upstreams_and_black_beyond_the_frame():
    # box 100..200 × 100..240: mean side 120, side int(189.6) = 189, centre (150, 170 + 16.8)
    np.testing.assert_allclose(roi_boxes(np.array([[100, 100, 200, 240]])),
                               [[55.5, 92.3, 244.5, 281.3]], atol=1e-6)
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_roi(frame, np.array([50.0, -50.0, 150.0, 50.0]))  # the right half and the top half are outside
    assert crop.shape == (120, 120, 3)
    assert (crop[70:, :50] == 200).all() and (crop[:50] == 0).all() and (crop[:, 70:] == 0).all()


def test_yaw_is_small_on_a_frontal_face_and_changes_sign_in_the_mirror(real_tracks, real_weights):
    clips, tracks = real_tracks
    regressor = TdmmRegressor(real_settings(real_weights, batch_size=16))

    frames, track = frames_and_boxes(clips, tracks, FRONTAL)
    frontal = pose_angles(regressor.params(frames, track[:, :4]))
    assert abs(np.median(frontal[:, 0])) < 8, frontal[:, 0]

    frames, track = frames_and_boxes(clips, tracks, TURNED)
    width = frames[0].shape[1]
    turned = pose_angles(regressor.params(frames, track[:, :4]))
    mirrored_boxes = track[:, :4].copy()
    mirrored_boxes[:, 0], mirrored_boxes[:, 2] = width - track[:, 2], width - track[:, 0]
    mirrored = pose_angles(regressor.params([cv2.flip(f, 1) for f in frames], mirrored_boxes))
    yaw, yaw_mirrored = turned[:, 0], mirrored[:, 0]
    assert np.median(np.abs(yaw)) > 15, yaw
    assert (np.sign(yaw) == -np.sign(yaw_mirrored)).all(), (yaw, yaw_mirrored)
    assert np.abs(yaw + yaw_mirrored).max() < 6, yaw + yaw_mirrored  # the same turn, the other way
    assert np.median(np.abs(turned[:, 1] - mirrored[:, 1])) < 4  # pitch stays
    # yaw > 0 means a face turned towards the image's left: here the nose sits right of the eyes
    c = TRACK_COLUMNS.index
    nose_offset = track[:, c("nose_x")] - (track[:, c("reye_x")] + track[:, c("leye_x")]) / 2
    assert np.median(nose_offset) > 0 and np.median(yaw) < 0


def test_extract_tdmm_writes_62_parameters_per_track_row(real_tracks, real_weights, tmp_path):
    clips, tracks = real_tracks
    out = tmp_path / "tdmm.h5"
    assert extract_tdmm(clips, tracks, out, real_settings(real_weights, batch_size=16)) == (2, 0)
    shard, track_shard = ShardReader(out), ShardReader(tracks)
    assert sorted(shard.clip_ids) == sorted(track_shard.clip_ids) == sorted([FRONTAL, TURNED])
    for clip_id in shard.clip_ids:
        params = shard.read(clip_id)
        assert params.shape == (len(track_shard.read(clip_id)), 62) and params.dtype == np.float32
        assert np.isfinite(params).all()
        assert params[:, EXPRESSION].std(axis=0).max() > 0.05  # the mouth moves in speech
    with h5py.File(out) as f:
        assert f.attrs["stage"] == "tdmm" and f.attrs["backend"] == "3ddfa_v2"
        assert json.loads(f.attrs["columns"])["expression"] == [52, 62]
        assert json.loads(f.attrs["settings"])["arch"] == "mb05"
    yaw = shard.info(TURNED)["median_yaw_pitch_roll"][0]
    assert yaw < -15


def test_a_random_mb1_in_upstreams_format_loads_through_the_resolver(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = MobileNet3DDFA(widen=1.0).eval()
    with torch.no_grad():
        for module in model.modules():
            # upstream's initialisation makes a deep net whose output hardly depends on its input:
            # weights that keep the signal (and batch-norm statistics that are not 0 and 1) make any
            # lost tensor, channel swap or wrong normalisation show in the outputs below
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, (2 / fan_in) ** 0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.8, 1.2)
                module.bias.uniform_(-0.1, 0.1)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.save(upstream_state_dict(model), weights / "3ddfa_v2_mb1_120x120.pth")
    assert all(k.startswith("module.") for k in upstream_state_dict(model)["state_dict"])
    np.savez(weights / "stats.npz", mean=np.linspace(-1, 1, 62, dtype=np.float32),
             std=np.full(62, 2.0, np.float32))
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(weights))

    loaded = load_mobilenet(resolve("3ddfa_v2_mb1_120x120.pth"), "mb1")
    assert loaded.conv1.out_channels == 32 and getattr(loaded, BLOCKS[-1][0]).conv_sep.out_channels == 1024
    x = torch.randn(3, 3, 120, 120)
    with torch.no_grad():
        out = model(x).numpy()
        assert out.std(axis=0).mean() > 1e-2 and np.abs(model(x.flip(1)).numpy() - out).max() > 1e-2
        np.testing.assert_allclose(loaded(x).numpy(), out, rtol=1e-4, atol=1e-5)

    regressor = TdmmRegressor(TdmmSettings(arch="mb1", weights="3ddfa_v2_mb1_120x120.pth",
                                           mean_std="stats.npz"), device=torch.device("cpu"))
    crops = np.random.default_rng(0).integers(0, 256, (2, 120, 120, 3), dtype=np.uint8)
    with torch.no_grad():
        raw = model(torch.from_numpy((crops.transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 128)).numpy()
    np.testing.assert_allclose(regressor(crops), raw * 2.0 + np.linspace(-1, 1, 62), rtol=1e-4, atol=1e-4)

    # upstream's inference-time naming (head `fc`, no landmark head) loads strictly as well
    plain = {("fc." + k[9:] if k.startswith("fc_param.") else k): v
             for k, v in model.state_dict().items() if not k.startswith("fc_lm.")}
    torch.save({"state_dict": plain}, weights / "plain.pth")
    assert load_mobilenet(resolve("plain.pth"), "mb1").fc_lm is None
