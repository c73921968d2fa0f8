"""The landmarks stage: dlib's points on real clips (where they fall, their order, the mouth moving with
the voice), and face-alignment's FAN through the real loading path, with randomly initialised weights
saved in both forms upstream publishes."""
from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED

from unisync_model.extract import landmarks as L
from unisync_model.io.shards import ShardReader, ShardWriter
from unisync_model.settings import FPS, SAMPLE_RATE, LandmarksSettings, TracksSettings

REAL = SHARED / "data" / "clips" / "real"
SPEAKING = ["lrs2_deepavsr_00001", "vox_pcavs_Pose_Source_00067", "hdtf_WDA_BobMenendez_000"]
MUSIC = "liveportrait_d6_music"  # a face pulling expressions over a song: the mouth does not make the sound


# ------------------------------------------------------------------------------------ real clips, dlib
@pytest.fixture(scope="module")
def real_landmarks(tmp_path_factory, yunet_weights):
    """Tracks and dlib landmarks of the three speaking clips and the music clip."""
    missing = [n for n in SPEAKING + [MUSIC] if not (REAL / f"{n}.mp4").is_file()]
    if missing:
        pytest.skip(f"needs the real clips {missing} in {REAL} (../shared is absent on this machine)")
    from unisync_model.corpora.manifest import build_manifest
    from unisync_model.extract.tracks import extract_tracks
    root = tmp_path_factory.mktemp("real")
    (root / "clips").mkdir()
    for name in SPEAKING + [MUSIC]:
        (root / "clips" / f"{name}.mp4").symlink_to(REAL / f"{name}.mp4")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNISYNC_OFFLINE", "1")
        patch.setenv("UNISYNC_CACHE", str(root / "cache"))
        clips = build_manifest("folder", root / "clips", 1, threads=2)
        extract_tracks(clips, root / "tracks.h5", TracksSettings(weights=str(yunet_weights)))
        written, skipped = L.extract_landmarks(clips, root / "tracks.h5", root / "landmarks.h5", LandmarksSettings())
    assert (written, skipped) == (4, 0)
    return clips, ShardReader(root / "tracks.h5"), ShardReader(root / "landmarks.h5")


def test_dlib_points_lie_in_the_face_box_in_their_order(real_landmarks):
    clips, tracks, landmarks = real_landmarks
    assert landmarks.attrs["backend"] == "dlib" and landmarks.clip_ids == tracks.clip_ids
    for clip_id in landmarks.clip_ids:
        points, track = landmarks.read(clip_id), tracks.read(clip_id)
        assert points.shape == (len(track), 68, 2) and points.dtype == np.float32
        assert np.isfinite(points).all()
        box = track[:, None, :4]
        x, y = points[..., 0], points[..., 1]
        inside = (x >= box[..., 0]) & (x <= box[..., 2]) & (y >= box[..., 1]) & (y <= box[..., 3])
        # the jaw's sides reach past YuNet's box now and then; everything else lies inside it
        assert inside.mean() > 0.85, (clip_id, inside.mean())
        assert inside.mean(axis=1).min() > 0.75, (clip_id, inside.mean(axis=1).min())
        # iBUG order: jaw 0..16 from the image's left to its right, brows over eyes over nose over mouth over chin
        assert ((x[:, 0] < x[:, 8]) & (x[:, 8] < x[:, 16])).all(), clip_id
        # (on a turned head the far side of the jaw folds: vox_pcavs_Pose_Source_00067 has 12 ≥ 16 in 8 % of frames)
        steps = (x[:, 0] < x[:, 4]) & (x[:, 4] < x[:, 8]) & (x[:, 8] < x[:, 12]) & (x[:, 12] < x[:, 16])
        assert steps.mean() > 0.85, (clip_id, steps.mean())
        brows, eyes, mouth = y[:, 17:27].mean(1), y[:, 36:48].mean(1), y[:, 48:68].mean(1)
        assert ((brows < eyes) & (eyes < y[:, 30]) & (y[:, 30] < mouth) & (mouth < y[:, 8])).all(), clip_id
        right_eye, left_eye = x[:, 36:42].mean(1), x[:, 42:48].mean(1)
        assert ((right_eye < x[:, 30]) & (x[:, 30] < left_eye) & (x[:, 48] < x[:, 54])).all(), clip_id
        assert ((y[:, 62] <= y[:, 66] + 0.5)).mean() > 0.95  # the upper inner lip is above the lower one


def rms_envelope(path: str, frames: int) -> np.ndarray:
    """The audio's RMS over each video frame's 40 ms (640 samples at 16 kHz), silence past its end."""
    from unisync_model.io.media import audio_samples
    hop = SAMPLE_RATE // FPS
    samples = audio_samples(path)
    samples = np.pad(samples, (0, max(0, frames * hop - len(samples))))[: frames * hop]
    return np.sqrt((samples.reshape(frames, hop) ** 2).mean(axis=1))


def test_mouth_opens_with_the_voice_and_not_with_music(real_landmarks):
    """Pearson r of mouth_opening with the RMS envelope, frame by frame at 25 fps, no lag. Measured
    when this was written: 0.42, 0.23, 0.24 on the three speaking clips, 0.10 on the music clip. That
    is modest, and it is not general: over 14 real speaking clips r at lag 0 has a median of 0.03
    (cantonese_icable_10075_0: −0.20), so these clips are ones where the mouth visibly tracks the voice."""
    clips, tracks, landmarks = real_landmarks
    paths = dict(zip(clips["clip_id"], clips["path"]))
    r = {}
    for clip_id in landmarks.clip_ids:
        opening = L.mouth_opening(landmarks.read(clip_id))
        assert np.isfinite(opening).all() and (opening >= 0).all() and opening.max() > 0.05
        r[clip_id] = float(np.corrcoef(opening, rms_envelope(paths[clip_id], len(opening)))[0, 1])
    print("r(mouth opening, RMS):", json.dumps({k: round(v, 3) for k, v in r.items()}))
    speaking = [r[name] for name in SPEAKING]
    assert sum(v > 0.15 for v in speaking) >= 2, r
    assert abs(r[MUSIC]) < 0.2 and r[MUSIC] < min(speaking), r
    # frame for frame: misalign the mouth by half a second and the speaking clips lose it
    shifted = [np.corrcoef(np.roll(L.mouth_opening(landmarks.read(n)), 12),
                           rms_envelope(paths[n], landmarks.length(n)))[0, 1] for n in SPEAKING]
    assert np.median(shifted) < np.median(speaking) - 0.1, (shifted, speaking)


# ----------------------------------------------------------------------------------------- helpers
def test_mouth_opening_is_the_inner_lip_gap_over_the_eye_distance():
    face = np.zeros((2, 68, 2))
    face[:, 36:42] = [100.0, 100.0]
    face[:, 42:48] = [160.0, 100.0]  # eyes 60 px apart
    for upper, lower in L.INNER_LIP_PAIRS:
        face[:, upper] = [130.0, 180.0]
        face[:, lower] = [130.0, 180.0]
    face[1, [65, 66, 67], 1] += 15.0  # frame 1: lower inner lip 15 px down
    assert np.allclose(L.mouth_opening(face), [0.0, 0.25])
    assert np.allclose(L.mouth_opening(face * 3 + 7), [0.0, 0.25])  # no matter the face's size or place
    face[0, 0, 0] = np.nan
    face[1, 62, 0] = np.nan
    assert np.isnan(L.mouth_opening(face)[1]) and L.mouth_opening(face)[0] == 0.0
    with pytest.raises(ValueError):
        L.mouth_opening(face[:, :60])


def test_the_shape_predictor_is_found_by_name_then_in_its_package(tmp_path, monkeypatch):
    name = "shape_predictor_68_face_landmarks.dat"
    if L.importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("face-recognition-models is not installed")
    in_package = L.dlib_weights_path(name)  # no copy in $UNISYNC_WEIGHTS: the package's
    assert in_package.name == name and "face_recognition_models" in str(in_package)
    (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    assert L.dlib_weights_path(name) == tmp_path / name
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(L.importlib.util, "find_spec", lambda _: None)
    with pytest.raises(L.WeightsNotFound, match="face-recognition-models"):
        L.dlib_weights_path(name)


def test_the_dlib_box_is_the_square_dlib_detector_draws():
    centre_x, centre_y, side = L.dlib_box(np.array([100.0, 50.0, 200.0, 183.0]))  # YuNet: 100 × 133
    assert centre_x == 150.0 and np.isclose(centre_y, 116.5 + 0.035 * 133)
    assert np.isclose(side, (1.05 * 100 + 0.80 * 133) / 2)


# ---------------------------------------------------------------------------------------------- FAN
def test_heatmap_peaks_map_back_to_the_frame_points_they_came_from():
    import torch
    boxes = np.array([[40.0, 30.0, 140.0, 160.0], [300.0, 200.0, 340.0, 252.0]])
    matrices = np.stack([L.fan_crop_matrix(b) for b in boxes])
    rng = np.random.default_rng(0)
    truth = np.stack([rng.uniform(b[:2] + 10, b[2:4] - 10, size=(68, 2)) for b in boxes])
    crop = truth * matrices[:, None, 0, 0:1] + matrices[:, None, :, 2]  # into the 256 × 256 input
    at = (crop + 0.5) / (L.FAN_INPUT / L.FAN_HEATMAP) - 0.5  # into the 64 × 64 heatmap
    grid = np.arange(L.FAN_HEATMAP)
    heatmaps = np.exp(-((grid[None, None, None, :] - at[..., 0, None, None]) ** 2
                        + (grid[None, None, :, None] - at[..., 1, None, None]) ** 2) / 2.0)
    found = L.heatmap_to_frame(L.heatmap_peaks(torch.from_numpy(heatmaps).float()).numpy(), matrices)
    pixel = L.FAN_INPUT / L.FAN_HEATMAP / matrices[:, 0, 0]  # one heatmap pixel, in frame pixels
    error = np.abs(found - truth).max(axis=(1, 2))
    assert (error <= 0.3 * pixel).all(), (error, pixel)  # the ±0.25-pixel refinement leaves at most 0.25
    # the crop is face_alignment's: the box centre moved up 0.12 × height, side 200 (w + h) / 165
    box = boxes[0]
    assert np.allclose(matrices[0] @ [90.0, 95.0 - 0.12 * 130, 1.0], [127.5, 127.5])
    assert np.isclose(matrices[0, 0, 0], 256 / (200 * 230 / 165))
    assert box[2] > box[0]


def test_the_fan_crop_is_face_alignments_crop():
    """The crop (one affine warp) against face_alignment.utils.crop (integer corners, then a resize) on
    a smooth image: the same picture, to within upstream's rounding of the corners."""
    import cv2
    from face_alignment.utils import crop
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3)).astype(np.uint8), (0, 0), 4)
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
    for box in ([100.0, 60.0, 180.0, 165.0], [20.3, 10.7, 70.2, 80.9], [250.0, 150.0, 330.0, 260.0]):
        x1, y1, x2, y2 = box
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)])
        upstream = crop(image, centre, ((x2 - x1) + (y2 - y1)) / L.FAN_REFERENCE_SCALE).astype(float)
        ours = cv2.warpAffine(image, L.fan_crop_matrix(np.array(box)), (256, 256), flags=cv2.INTER_LINEAR).astype(float)
        assert np.abs(ours - upstream)[20:-20, 20:-20].mean() < 4.0, box  # grey levels of 255
        moved = cv2.warpAffine(image, L.fan_crop_matrix(np.array(box) + 4), (256, 256)).astype(float)
        assert np.abs(moved - upstream)[20:-20, 20:-20].mean() > 8.0, box  # while 4 px off is plainly not it


@pytest.fixture(scope="module")
def fan_files(tmp_path_factory):
    """A randomly initialised face_alignment.models.FAN(4), saved as upstream publishes it: a TorchScript
    archive (face-alignment 1.3–1.4, 2DFAN4-cd938726ad.zip, whose network returns the last heatmaps)
    and a state dict in torch's legacy format (face-alignment 1.5, 2DFAN4-11f355bf06.pth.tar)."""
    import torch
    from face_alignment.models import FAN
    torch.manual_seed(0)
    net = FAN(4).eval()
    for module in net.modules():  # non-trivial batch-norm statistics, so loading them matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)

    class LastHeatmaps(torch.nn.Module):
        def __init__(self, fan):
            super().__init__()
            self.fan = fan

        def forward(self, x):
            return self.fan(x)[-1]

    folder = tmp_path_factory.mktemp("fan")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch ≥ 2.10
        traced = torch.jit.trace(LastHeatmaps(net), torch.rand(1, 3, 256, 256), check_trace=False)
    traced.save(str(folder / "2DFAN4-cd938726ad.zip"))
    torch.save(net.state_dict(), folder / "2DFAN4-11f355bf06.pth.tar", _use_new_zipfile_serialization=False)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A 2-frame synthetic clip (a bright ellipse on grey) and its hand-made track."""
    import cv2
    folder = tmp_path_factory.mktemp("tiny")
    frames = []
    for t in range(2):
        frame = np.full((144, 176, 3), 90, np.uint8)
        cv2.ellipse(frame, (88 + 3 * t, 70), (30, 40), 0, 0, 360, (170, 180, 200), -1)
        cv2.ellipse(frame, (88 + 3 * t, 92), (10, 3 + 2 * t), 0, 0, 360, (40, 40, 120), -1)
        frames.append(frame)
    path = folder / "tiny.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "176x144",
                    "-r", str(FPS), "-i", "pipe:", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)],
                   input=np.stack(frames).tobytes(), check=True)
    track = np.zeros((2, 17), np.float32)
    track[:, :4] = [[55 + 3 * t, 25, 121 + 3 * t, 115] for t in range(2)]
    with ShardWriter(folder / "tracks.h5", "tracks") as writer:
        writer.add("tiny", track)
        writer.skip("gone", "no face")
    return pd.DataFrame({"clip_id": ["tiny"], "path": [str(path)]}), folder / "tracks.h5"


@pytest.mark.filterwarnings("ignore:.*torch.jit:FutureWarning")
def test_fan_runs_batched_from_either_weights_file_and_is_deterministic(fan_files, tiny_clip, tmp_path,
                                                                         monkeypatch):
    from unisync_model.io.device import pick_device
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(fan_files))  # found by name, as real weights would be
    clips, tracks = tiny_clip
    batches = []
    forward = L.FanLandmarks.forward

    def counted(self, crops):
        batches.append(len(crops))
        return forward(self, crops)

    monkeypatch.setattr(L.FanLandmarks, "forward", counted)
    results = {}
    # FAN-4 costs about a second per crop on a CPU: two frames, one per batch, then both in one batch
    for name, batch_size in (("2DFAN4-cd938726ad.zip", 1), ("2DFAN4-11f355bf06.pth.tar", 2)):
        out = tmp_path / f"{name}.h5"
        settings = LandmarksSettings(backend="fan", fan_weights=name, batch_size=batch_size)
        assert L.extract_landmarks(clips, tracks, out, settings) == (1, 1)  # the track's skipped clip carried
        shard = ShardReader(out)
        assert shard.attrs["device"] == str(pick_device()) and shard.attrs["weights"] == name
        assert [s["clip_id"] for s in shard.skipped] == ["gone"]
        results[name] = shard.read("tiny")
    assert batches == [1, 1, 2]
    a, b = results.values()
    assert a.shape == (2, 68, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    # the same network from the TorchScript archive and from the state dict, batched differently: the same points
    assert np.allclose(a, b, atol=1e-3), np.abs(a - b).max()
    # every point comes from inside the crop face_alignment would cut around the box
    matrices = np.stack([L.fan_crop_matrix(row) for row in ShardReader(tracks).read("tiny")])
    crop = np.einsum("tij,tpj->tpi", matrices[:, :, :2], a) + matrices[:, None, :, 2]
    assert (crop > -1).all() and (crop < 257).all()


def test_fan_state_dict_is_read_without_unpickling_objects(tmp_path):
    import torch

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled",))

    torch.save({"state_dict": Payload()}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        L.load_fan(tmp_path / "bad.pth", torch.device("cpu"))
