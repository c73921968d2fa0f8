"""The parsing stage: class maps over the lower half of the rgb stage's face crop.

Synthetic faces (68 points drawn by hand) check the landmarks backend's regions, its geometry and the
bookkeeping of skipped clips; two real clips (YuNet tracks, dlib's 68 points predicted on the track
boxes, the rgb stage's crops) check that the lip classes sit on the lips, in the same crop the rgb
stage shows; facexlib's real BiSeNet / ParseNet architectures, randomly initialised and saved as
upstream's files are, go through the real loading path and run on real crops."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers import SHARED

from unisync_model.extract import parsing
from unisync_model.extract.parsing import (CLASS, CLASS_NAMES, LANDMARK_REGIONS, LIP_CLASSES, PARSENET_NAMES,
                                           PARSENET_TO_CLASS, extract_parsing, to_crop)
from unisync_model.extract.rgb import crop_matrix, extract_rgb
from unisync_model.extract.tracks import extract_tracks
from unisync_model.io.media import probe, video_frames
from unisync_model.io.shards import ShardReader, ShardWriter
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.io.weights import WeightsNotFound
from unisync_model.settings import ParsingSettings, RgbSettings, TracksSettings

REAL = SHARED / "data" / "clips" / "real"
REAL_CLIPS = ("hdtf_WDA_KatieHill_000.mp4", "vox_pcavs_Pose_Source_00067.mp4")
SIZE = ParsingSettings().face_size
CROP = RgbSettings(ParsingSettings().face_size, ParsingSettings().box_scale)
OUTER_LIP = slice(48, 60)


# ----------------------------------------------------------------------------------------- synthetic

def ellipse(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int) -> np.ndarray:
    a = np.linspace(start, stop, n)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def synthetic_face(x: float = 100, y: float = 100, side: float = 100,
                   opening: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    """68 iBUG points (frame pixels) of a frontal face in the box (x, y, x + side, y + side), and its
    track row. `opening` is the inner lips' half-height, relative to the side (0: closed)."""
    s = side / 100
    p = np.zeros((68, 2))
    p[0:17] = ellipse(50, 30, -50, 70, 0, np.pi, 17)  # jaw: image-left ear, chin, image-right ear
    p[17:22] = np.stack([np.linspace(10, 40, 5), [15, 12, 11, 12, 14]], 1)
    p[22:27] = np.stack([np.linspace(60, 90, 5), [14, 12, 11, 12, 15]], 1)
    p[27:31] = np.stack([np.full(4, 50), np.linspace(25, 55, 4)], 1)
    p[31:36] = np.stack([np.linspace(40, 60, 5), [58, 59, 60, 59, 58]], 1)
    p[36:42] = ellipse(27, 28, 9, 4, np.pi, 3 * np.pi, 7)[:6]
    p[42:48] = ellipse(73, 28, 9, 4, np.pi, 3 * np.pi, 7)[:6]
    p[48:60] = ellipse(50, 78, 20, 12, np.pi, 3 * np.pi, 13)[:12]  # 48 left corner, 51 top, 54 right, 57 bottom
    p[60:68] = ellipse(50, 78, 14, 100 * opening, np.pi, 3 * np.pi, 9)[:8]
    points = p * s + [x, y]
    row = np.zeros(len(TRACK_COLUMNS), np.float32)
    row[:4] = x, y, x + side, y + side
    row[4] = 0.9
    row[5:15] = np.concatenate([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])
    row[15] = 1
    return points.astype(np.float32), row


def lip_hits(classes: np.ndarray, points: np.ndarray, track_row: np.ndarray) -> np.ndarray:
    """Whether each frame point lands (nearest pixel of the lower-half map) on a lip or mouth pixel."""
    xy = np.round(to_crop(points, crop_matrix(track_row, CROP)) - [0, SIZE / 2]).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < classes.shape[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < classes.shape[0])
    found = classes[np.clip(xy[:, 1], 0, classes.shape[0] - 1), np.clip(xy[:, 0], 0, classes.shape[1] - 1)]
    return inside & np.isin(found, LIP_CLASSES)


def write_shards(folder: Path, clips: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> tuple[Path, Path]:
    """Tracks and landmarks shards for clips of (points, track row) frames."""
    with ShardWriter(folder / "tracks.h5", "tracks") as tracks:
        for clip_id, frames in clips.items():
            tracks.add(clip_id, np.stack([row for _, row in frames]))
    with ShardWriter(folder / "landmarks.h5", "landmarks") as lms:
        for clip_id, frames in clips.items():
            lms.add(clip_id, np.stack([points for points, _ in frames]))
    return folder / "tracks.h5", folder / "landmarks.h5"


def test_class_layouts():
    assert len(CLASS_NAMES) == 19 and CLASS_NAMES[:2] == ("background", "skin")
    assert (CLASS["nose"], CLASS["mouth"], CLASS["u_lip"], CLASS["l_lip"]) == (10, 11, 12, 13)
    assert sorted(PARSENET_TO_CLASS.tolist()) == list(range(19))  # a relabelling, nothing lost or merged
    assert all(CLASS_NAMES[PARSENET_TO_CLASS[k]] == name for k, name in enumerate(PARSENET_NAMES))
    # ParseNet's numbering differs where it matters: its 2 is the nose, 10 the mouth, 11 and 12 the lips
    assert PARSENET_TO_CLASS[[2, 10, 11, 12, 13]].tolist() == [10, 11, 12, 13, 17]
    assert all(CLASS_NAMES[r.class_id] == r.name for r in LANDMARK_REGIONS)


def test_landmark_regions_on_a_synthetic_face(tmp_path):
    open_mouth, row = synthetic_face(opening=0.06)
    closed_mouth, _ = synthetic_face(opening=0.0)
    missing = np.full((68, 2), np.nan, np.float32)
    tracks, landmarks = write_shards(tmp_path, {"a": [(open_mouth, row), (closed_mouth, row), (missing, row)]})
    assert extract_parsing(pd.DataFrame(), tracks, landmarks, tmp_path / "parsing.h5", ParsingSettings()) == (1, 0)
    shard = ShardReader(tmp_path / "parsing.h5")
    maps = shard.read("a")
    assert maps.shape == (3, SIZE // 2, SIZE) and maps.dtype == np.uint8
    assert shard.info("a") == {"frames_without_landmarks": 1}
    assert shard.attrs["backend"] == "landmarks"

    def at(frame: int, point) -> int:
        x, y = np.round(to_crop(np.array([point], float), crop_matrix(row, CROP))[0] - [0, SIZE / 2]).astype(int)
        return int(maps[frame, y, x])

    for t, points in enumerate((open_mouth, closed_mouth)):
        assert lip_hits(maps[t], points[OUTER_LIP], row).all()
        assert at(t, (points[51] + points[62]) / 2) == CLASS["u_lip"]  # between the outer and inner lip lines
        assert at(t, (points[57] + points[66]) / 2) == CLASS["l_lip"]
        assert at(t, points[33] - [0, 2]) == CLASS["nose"]
        assert at(t, (points[57] + points[8]) / 2) == CLASS["skin"]  # the chin
        assert at(t, points[4] - [6, 0]) == CLASS["background"]  # beside the jaw
    assert at(0, open_mouth[60:68].mean(0)) == CLASS["mouth"]
    assert CLASS["mouth"] not in maps[1]  # closed lips show no interior
    assert (maps[2] == 0).all()  # no landmarks, nothing drawn


def test_the_map_follows_the_crop_not_the_frame(tmp_path):
    """The crop is the rgb stage's: moving the face and its box together changes nothing; moving
    the points inside a fixed box moves the regions by the crop's scale."""
    a_points, a_row = synthetic_face(100, 100, 100)
    b_points, b_row = synthetic_face(160, 40, 100)  # the same face elsewhere in the frame
    c_points, c_row = synthetic_face(100, 100, 200)  # twice as large
    scale = float(crop_matrix(a_row, CROP)[1, 1])
    moved = a_points + [0, 8 / scale]  # the face 8 crop pixels lower in the same box (keypoints kept)
    tracks, landmarks = write_shards(tmp_path, {"a": [(a_points, a_row), (b_points, b_row), (c_points, c_row),
                                                      (moved, a_row)]})
    extract_parsing(pd.DataFrame(), tracks, landmarks, tmp_path / "parsing.h5", ParsingSettings())
    maps = ShardReader(tmp_path / "parsing.h5").read("a")
    assert (maps[1] != maps[0]).mean() < 0.005  # the same map, up to float rounding at polygon edges
    assert (maps[2] != maps[0]).mean() < 0.02  # the same map, up to rasterisation
    assert (maps[3][8:] != maps[0][:-8]).mean() < 0.005
    assert (maps[3] != maps[0]).mean() > 0.05


def test_skipped_clips_are_accounted_for(tmp_path):
    points, row = synthetic_face()
    with ShardWriter(tmp_path / "tracks.h5", "tracks") as tracks:
        tracks.add("ok", np.stack([row] * 4))
        tracks.add("short", np.stack([row] * 5))
        tracks.skip("no_face", "no face found")
    with ShardWriter(tmp_path / "landmarks.h5", "landmarks") as lms:
        lms.add("ok", np.stack([points] * 4))
        lms.add("short", np.stack([points] * 3))  # one frame fewer than its track
        lms.add("untracked", np.stack([points] * 2))
        lms.skip("no_face", "no face found")
        lms.skip("blurred", "landmarks failed")
    assert extract_parsing(pd.DataFrame(), tmp_path / "tracks.h5", tmp_path / "landmarks.h5",
                           tmp_path / "parsing.h5", ParsingSettings()) == (1, 4)
    shard = ShardReader(tmp_path / "parsing.h5")
    assert shard.clip_ids == ["ok"]
    reasons = {r["clip_id"]: r["reason"] for r in shard.skipped}
    assert reasons["no_face"] == "no face found" and reasons["blurred"] == "landmarks failed"
    assert "3 frames" in reasons["short"] and "5" in reasons["short"]
    assert "no track" in reasons["untracked"]
    with pytest.raises(ValueError, match="landmarks shard"):
        extract_parsing(pd.DataFrame(), tmp_path / "tracks.h5", None, tmp_path / "x.h5", ParsingSettings())
    with pytest.raises(ValueError, match="unknown parsing backend"):
        extract_parsing(pd.DataFrame(), tmp_path / "tracks.h5", None, tmp_path / "x.h5", ParsingSettings(backend="x"))


# ------------------------------------------------------------------------------------------------ real

@pytest.fixture(scope="module")
def real(tmp_path_factory, yunet_weights):
    """Two real clips: manifest, YuNet tracks, dlib landmarks on the track boxes, rgb crops."""
    import dlib
    from helpers.mouth_check import shape_predictor_path

    from unisync_model.corpora.manifest import build_manifest

    missing = [c for c in REAL_CLIPS if not (REAL / c).is_file()]
    if missing:
        pytest.skip(f"needs the real clips {missing} in {REAL}")
    folder = tmp_path_factory.mktemp("parsing_real")
    (folder / "clips").mkdir()
    for name in REAL_CLIPS:
        (folder / "clips" / name).symlink_to(REAL / name)
    clips = build_manifest("folder", folder / "clips", 1)
    extract_tracks(clips, folder / "tracks.h5", TracksSettings(weights=str(yunet_weights)))
    tracks = ShardReader(folder / "tracks.h5")
    assert len(tracks.clip_ids) == 2, tracks.skipped
    predictor = dlib.shape_predictor(str(shape_predictor_path()))
    paths = dict(zip(clips["clip_id"], clips["path"]))
    with ShardWriter(folder / "landmarks.h5", "landmarks") as writer:
        for clip_id in tracks.clip_ids:
            track = tracks.read(clip_id)
            points = []
            for row, frame in zip(track, video_frames(paths[clip_id])):
                box = dlib.rectangle(*(int(round(float(v))) for v in row[:4]))
                shape = predictor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), box)
                points.append([(p.x, p.y) for p in shape.parts()])
            writer.add(clip_id, np.asarray(points, np.float32))
        writer.skip("gone", "upstream: no face")
    extract_rgb(clips, folder / "tracks.h5", folder / "rgb.h5", CROP)
    assert extract_parsing(clips, folder / "tracks.h5", folder / "landmarks.h5", folder / "parsing.h5",
                           ParsingSettings()) == (2, 1)
    return SimpleNamespace(folder=folder, clips=clips, tracks=tracks, landmarks=ShardReader(folder / "landmarks.h5"),
                           rgb=ShardReader(folder / "rgb.h5"), parsing=ShardReader(folder / "parsing.h5"))


def lip_hit_rate(real, clip_id: str, shift: float = 0.0) -> float:
    """The fraction of outer-lip points (48–59) on lip or mouth pixels, with the points moved by
    `shift` × the box height (the control)."""
    maps, track, points = real.parsing.read(clip_id), real.tracks.read(clip_id), real.landmarks.read(clip_id)
    hits = [lip_hits(maps[t], points[t, OUTER_LIP] + [0, shift * (track[t, 3] - track[t, 1])], track[t])
            for t in range(len(maps))]
    return float(np.mean(hits))


def test_real_lips_fall_on_lip_classes(real):
    assert sorted(r["clip_id"] for r in real.parsing.skipped) == ["gone"]
    for clip_id in real.tracks.clip_ids:
        maps = real.parsing.read(clip_id)
        assert maps.shape == (real.tracks.length(clip_id), SIZE // 2, SIZE) and maps.dtype == np.uint8
        assert lip_hit_rate(real, clip_id) > 0.9, clip_id
        for shift in (-0.15, 0.15):  # the lip points moved to the nose or the chin
            assert lip_hit_rate(real, clip_id, shift) < 0.2, (clip_id, shift)


def lip_redness(rgb: np.ndarray, maps: np.ndarray, dy: int = 0, dx: int = 0) -> float:
    """Mean over frames of (a* on lip pixels − a* on skin pixels) of the rgb crops, CIELAB a* being
    how red a pixel is; the class map moved by (dy, dx) pixels for the control."""
    out = []
    for crop, classes in zip(rgb, maps):
        a = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[..., 1].astype(np.float64)
        classes = np.roll(classes, (dy, dx), axis=(0, 1))
        lips, skin = np.isin(classes, (CLASS["u_lip"], CLASS["l_lip"])), classes == CLASS["skin"]
        if lips.any() and skin.any():
            out.append(a[lips].mean() - a[skin].mean())
    return float(np.mean(out))


def test_real_class_map_is_aligned_with_the_rgb_crop(real):
    """The lip pixels of the map are the reddest of the rgb crop's face at this alignment and not
    when the map is moved a few pixels: map and crop show the same region."""
    for clip_id in real.tracks.clip_ids:
        rgb, maps = real.rgb.read(clip_id), real.parsing.read(clip_id)
        assert rgb.shape[:3] == maps.shape
        aligned = lip_redness(rgb, maps)
        assert aligned > 5, clip_id
        for dy, dx in ((4, 0), (-4, 0), (0, 8), (0, -8)):  # lips are wider than high
            assert lip_redness(rgb, maps, dy, dx) < aligned - 2, (clip_id, dy, dx)


# -------------------------------------------------------------------------------------------- facexlib

def first_frames(real, folder: Path, clip_id: str, frames: int) -> Path:
    """A tracks shard with the first frames of one real clip (and a skipped clip to carry)."""
    path = folder / f"tracks_{clip_id}_{frames}.h5"
    with ShardWriter(path, "tracks") as writer:
        writer.add(clip_id, real.tracks.read(clip_id)[:frames])
        writer.skip("gone", "no face found")
    return path


def save_random(name: str, folder: Path, file_name: str | None = None):
    """facexlib's architecture, randomly initialised, saved as upstream's file is: a plain state dict."""
    import torch
    torch.manual_seed(0)
    model = parsing.build_model(name)
    torch.save(model.state_dict(), folder / (file_name or f"parsing_{name}.pth"))
    return model.eval()


def test_facexlib_bisenet_loads_upstream_format_and_parses_real_crops(real, tmp_path, monkeypatch):
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    model = save_random("bisenet", tmp_path)
    clip_id = real.tracks.clip_ids[0]
    tracks = first_frames(real, tmp_path, clip_id, 3)
    settings = ParsingSettings(backend="facexlib", model="bisenet", weights="parsing_bisenet.pth", batch_size=2)
    assert extract_parsing(real.clips, tracks, None, tmp_path / "parsing.h5", settings) == (1, 1)
    shard = ShardReader(tmp_path / "parsing.h5")
    maps = shard.read(clip_id)
    assert maps.shape == (3, SIZE // 2, SIZE) and maps.dtype == np.uint8
    assert maps.max() <= 18
    assert [r["clip_id"] for r in shard.skipped] == ["gone"]
    assert shard.attrs["model"] == "bisenet" and shard.attrs["device"] == "cpu"
    loaded = parsing.load_parser(settings, "cpu").model.state_dict()
    assert all((loaded[k] == v).all() for k, v in model.state_dict().items())  # the file's weights, not a fresh init


def test_facexlib_parsenet_maps_its_labels(real, tmp_path, monkeypatch):
    """ParseNet through the same path; its labels come out in BiSeNet's ids. Parsed at 64 pixels
    here (the network is fully convolutional; 512 takes seconds a frame on a CPU)."""
    import torch
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(parsing, "PARSE_SIZE", 64)
    save_random("parsenet", tmp_path)
    clip_id = real.tracks.clip_ids[1]
    settings = ParsingSettings(backend="facexlib", model="parsenet", weights="parsing_parsenet.pth", batch_size=2)
    parser = parsing.load_parser(settings, "cpu")
    track = real.tracks.read(clip_id)[:2]
    squares = []
    path = real.clips.set_index("clip_id").loc[clip_id, "path"]
    for row, frame in zip(track, video_frames(path)):
        matrix = parsing.parse_matrix(crop_matrix(row, CROP), SIZE)
        squares.append(cv2.cvtColor(cv2.warpAffine(frame, matrix, (64, 64)), cv2.COLOR_BGR2RGB))
    squares = np.stack(squares)
    ids = parser(squares)
    with torch.no_grad():
        raw = parser.model(parser.preprocess(squares))[0].argmax(1).numpy()
    assert ids.shape == (2, 64, 64) and ids.dtype == np.uint8
    assert (ids == PARSENET_TO_CLASS[raw]).all()
    tracks = first_frames(real, tmp_path, clip_id, 2)
    assert extract_parsing(real.clips, tracks, None, tmp_path / "parsing.h5", settings) == (1, 1)
    maps = ShardReader(tmp_path / "parsing.h5").read(clip_id)
    assert maps.shape == (2, SIZE // 2, SIZE) and maps.dtype == np.uint8 and maps.max() <= 18


def test_facexlib_wrong_or_missing_weights_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    save_random("parsenet", tmp_path, "parsing_bisenet.pth")  # ParseNet's weights under BiSeNet's name
    with pytest.raises(ValueError, match="parsing_bisenet.pth"):
        parsing.load_parser(ParsingSettings(backend="facexlib"), "cpu")
    with pytest.raises(WeightsNotFound, match="parsing_parsenet.pth"):
        parsing.load_parser(ParsingSettings(backend="facexlib", model="parsenet", weights="parsing_parsenet.pth"),
                            "cpu")


class Brightness:
    """A stand-in for a parsing network: class 1 where the (un-normalised) input is bright, else 0."""

    def __init__(self, name: str):
        import torch
        mean, std = parsing.NORMALISATION[name]
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, x):
        import torch
        value = (x * self.std + self.mean).mean(dim=1)
        logits = torch.full((len(x), 19, *x.shape[2:]), -1.0)
        logits[:, 0] = 0.5
        logits[:, 1] = value
        return (logits,)


def test_facexlib_path_is_aligned_with_the_rgb_crop(real, tmp_path, monkeypatch):
    """Through the facexlib path's decoding, parse square and warp back, a network that marks the
    bright pixels marks the bright pixels of the rgb stage's crop. The HDTF clip's squares need
    less than its 512 pixels, so it is decoded smaller (and its track rescaled); the other is not."""
    monkeypatch.setattr(parsing, "load_parser", lambda s, device: parsing.FaceParser(Brightness(s.model), s.model,
                                                                                     device, s.batch_size))
    reduced = []
    for clip_id in real.tracks.clip_ids:
        info = probe(real.clips.set_index("clip_id").loc[clip_id, "path"])
        width, _ = parsing.parse_decode_size(real.tracks.read(clip_id)[:6], info.width, info.height, ParsingSettings())
        reduced.append(width < info.width)
        tracks = first_frames(real, tmp_path, clip_id, 6)
        settings = ParsingSettings(backend="facexlib", batch_size=4)
        extract_parsing(real.clips, tracks, None, tmp_path / f"{clip_id}.h5", settings)
        maps = ShardReader(tmp_path / f"{clip_id}.h5").read(clip_id)
        bright = (real.rgb.read(clip_id)[:6].astype(np.float64).mean(axis=-1) / 255 > 0.5).astype(np.uint8)
        assert 0.05 < bright.mean() < 0.95, clip_id  # a pattern to compare
        agree = (maps == bright).mean()
        assert agree > 0.95, (clip_id, agree)
        for dy, dx in ((3, 0), (0, 3)):
            assert (np.roll(maps, (dy, dx), axis=(1, 2)) == bright).mean() < agree - 0.01, (clip_id, dy, dx)
    assert reduced == [True, False]


def test_parse_square_and_its_inverse():
    _, row = synthetic_face(37, 58, 120)
    crop = crop_matrix(row, CROP)
    square = parsing.parse_matrix(crop, SIZE)
    back = parsing.square_to_crop(SIZE)
    points = np.array([[40.0, 70.0], [150.0, 170.0], [97.5, 118.0]])
    in_square = to_crop(points, square)
    assert np.allclose(to_crop(in_square, back), to_crop(points, crop), atol=1e-3)
    centre = to_crop(np.array([[float(row[[13, 11]].mean()), float(row[[1, 3]].mean())]]), square)[0]
    assert np.allclose(centre, parsing.PARSE_SIZE / 2)
    assert np.isclose(square[0, 0] / crop[0, 0], parsing.PARSE_SIZE / (parsing.PARSE_CONTEXT * SIZE))
