"""landmarks stage: the 68 iBUG 300-W points of the tracked face in every frame.

Output per clip: (T, 68, 2) float32, one row per track row, (x, y) in source-frame pixels (the frame
of the track boxes; pixel centres at integer coordinates), in iBUG-68 order: jaw 0–16 (the image's
left to right), brows 17–26, nose 27–35, eyes 36–47, outer lips 48–59, inner lips 60–67. Frames
outside the track's segments (interpolated boxes) get points too, from their box; the clip's info
counts them.

Two backends, both placed by the tracks stage's YuNet box, so there is no second face detection:
"dlib" (default, CPU, offline): dlib's 68-point shape predictor on the YuNet box turned into the square
dlib's own detector would give (`dlib_box`), resampled to DLIB_FACE_SIDE pixels (dlib returns integer
positions, coarse on small faces); weights: `dlib_weights_path`.
"fan": face-alignment's 2D FAN-4 with face_alignment's own crop, batched, on cuda when present;
weights as a state dict or a TorchScript archive (`load_fan`).
dlib reads the grey picture where the face is, from the decoded luma at full size (io/frames.py: the
same frames and numbers as the training-free scorer gets, which computes these points while it tracks);
FAN reads colour frames scaled down while the smallest face keeps DECODE_FACE_SIDE pixels, its points
scaled back to source pixels. `mouth_opening` (inner-lip gap / eye distance) is the measure a
training-free scorer can use.

Measurements (dlib's box against YuNet's, resampling jitter, how far the mouth opening follows the
voice) and both backends' recipes in full: docs/representations.md#landmarks
"""
from __future__ import annotations

import importlib.util
import warnings
import zipfile
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io.frames import DecodedFrame, decoded_frames, decoder_version
from unisync_model.io.media import MediaError, crop_decode_size, probe, video_frames
from unisync_model.io.optional import require
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import SEGMENT
from unisync_model.io.weights import WeightsNotFound, resolve, search_dirs
from unisync_model.settings import LandmarksSettings, to_dict

N_POINTS = 68
JAW = slice(0, 17)
RIGHT_BROW, LEFT_BROW = slice(17, 22), slice(22, 27)  # the subject's right is the image's left
NOSE = slice(27, 36)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper / lower inner-lip points, left to right

DECODE_FACE_SIDE = 192  # decode large video down to where the smallest face box is still this wide

# dlib: the YuNet box → the box of dlib's own HOG detector (medians measured on real clips, see above)
DLIB_BOX_WIDTH = 1.05  # × YuNet box width
DLIB_BOX_HEIGHT = 0.80  # × YuNet box height; the square's side is the mean of the two
DLIB_BOX_SHIFT = 0.035  # centre moved down by this × the YuNet box height
DLIB_FACE_SIDE = 200  # the square is resampled to this many pixels before prediction …
DLIB_CONTEXT = 1.5  # … inside a crop this many times wider (the predictor reads pixels around the box)
DLIB_BURST = 32  # crops predicted one after another (TrackedLandmarks says why); 300 × 300 bytes each

# FAN: face_alignment's crop (utils.crop / api.get_landmarks_from_image)
FAN_INPUT = 256
FAN_HEATMAP = 64
FAN_REFERENCE_SCALE = 165.0  # face_alignment's reference_scale for YuNet boxes
FAN_CENTRE_SHIFT = 0.12  # centre moved up by this × the box height
FAN_SCALE_FACTOR = 200.0



# ----------------------------------------------------------------------------------------- measures
def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """How open the mouth is in each frame: the mean gap between the upper and lower inner lip
    (61–67, 62–66, 63–65), divided by the distance between the eye centres (so it does not change
    with the face's size in the picture). landmarks: (T, 68, ≥2) → (T,) float64; 0 is closed, speech
    reaches about 0.1–0.4. Frames with non-finite points give NaN."""
    points = np.asarray(landmarks, np.float64)[..., :2]
    if points.ndim != 3 or points.shape[1] != N_POINTS:
        raise ValueError(f"expected (T, 68, 2) landmarks, got {points.shape}")
    gap = np.mean([np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    eyes = np.linalg.norm(points[:, RIGHT_EYE].mean(axis=1) - points[:, LEFT_EYE].mean(axis=1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eyes > 0, gap / eyes, np.nan)


# --------------------------------------------------------------------------------------------- dlib
def dlib_weights_path(name: str) -> Path:
    """The shape predictor file: a path, or the name in $UNISYNC_WEIGHTS or the cache (resolve()'s
    local places), else the copy inside the installed face_recognition_models package (found without
    importing it: it imports pkg_resources), else resolve() (a download where allowed, or its error)."""
    given = Path(name).expanduser()
    if given.is_file():
        return given
    for directory in search_dirs():
        if (directory / given.name).is_file():
            return directory / given.name
    spec = importlib.util.find_spec("face_recognition_models")
    for directory in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(directory) / "models" / given.name
        if candidate.is_file():
            return candidate
    try:
        return resolve(name)
    except WeightsNotFound as err:
        raise WeightsNotFound(f"{err} The face-recognition-models package (pip install "
                              "face-recognition-models) holds it too; it is not installed.") from None


def dlib_box(box: np.ndarray) -> tuple[float, float, float]:
    """A YuNet box (x1, y1, x2, y2) → the square dlib's detector would draw: (centre x, centre y, side)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    width, height = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    side = (DLIB_BOX_WIDTH * width + DLIB_BOX_HEIGHT * height) / 2
    return (x1 + x2) / 2, (y1 + y2) / 2 + DLIB_BOX_SHIFT * height, side


class DlibLandmarks:
    """dlib's shape predictor on the square each track box implies, one frame at a time, read from the
    frame's full-resolution luma (a DecodedFrame)."""

    reads = "luma"  # landmarks_clip gives it io.frames.DecodedFrame objects

    def __init__(self, settings: LandmarksSettings):
        self.dlib = dlib = require("dlib")
        self.weights = dlib_weights_path(settings.dlib_weights)
        self.predictor = dlib.shape_predictor(str(self.weights))
        crop = int(round(DLIB_FACE_SIDE * DLIB_CONTEXT))
        self.crop = crop
        start = (crop - DLIB_FACE_SIDE) // 2
        self.rect = dlib.rectangle(start, start, start + DLIB_FACE_SIDE - 1, start + DLIB_FACE_SIDE - 1)

    def patch(self, frame: DecodedFrame, box: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
        """The grey crop dlib reads for one frame and its box, and (centre x, centre y, scale) to map
        its points back to frame pixels (`points`)."""
        centre_x, centre_y, side = dlib_box(box)
        scale = DLIB_FACE_SIDE / side
        half = (self.crop - 1) / 2  # crop pixel centre ↔ box centre
        matrix = np.array([[scale, 0, half - scale * centre_x], [0, scale, half - scale * centre_y]])
        return frame.grey_patch(matrix, self.crop), (centre_x, centre_y, scale)

    def points(self, patch: np.ndarray, place: tuple[float, float, float]) -> np.ndarray:
        """68 × 2 points (frame pixels) of a crop made by `patch`."""
        centre_x, centre_y, scale = place
        half = (self.crop - 1) / 2
        shape = self.predictor(patch, self.rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        return (points - half) / scale + np.array([centre_x, centre_y])

    def predict(self, frame: DecodedFrame, box: np.ndarray) -> np.ndarray:
        """68 × 2 points (frame pixels) for one frame and its box."""
        return self.points(*self.patch(frame, box))

    def __call__(self, frames: Iterable[DecodedFrame], boxes: np.ndarray) -> np.ndarray:
        out, waiting = [], []
        for t, frame in zip(range(len(boxes)), frames):
            waiting.append(self.patch(frame, boxes[t]))
            if len(waiting) == DLIB_BURST:  # in bursts: see TrackedLandmarks
                out += [self.points(*crop) for crop in waiting]
                waiting.clear()
        out += [self.points(*crop) for crop in waiting]
        return np.stack(out) if out else np.zeros((0, N_POINTS, 2))


class TrackedLandmarks:
    """dlib's points of every face track while the frames stream past (track_stream's `on_frame`), so the
    training-free scorer needs no second decode; `arrays` gives the clip its (T, 68, 2) landmarks: the kept
    tracks' segments (NaN outside them), the same numbers landmarks_clip gives there.

    The crops are cut as each frame passes and dlib runs on `DLIB_BURST` of them at a time: its 68-point model
    (about 100 MB of trees) then stays in the CPU's caches from one crop to the next, which halves its
    cost per frame against one call between two frames' decoding (bench/RESULTS.md, benchmark (e))."""

    def __init__(self, backend: DlibLandmarks):
        self.backend = backend
        self.points: dict[tuple[int, int], np.ndarray] = {}
        self.waiting: list[tuple[tuple[int, int], np.ndarray, tuple[float, float, float]]] = []

    def __call__(self, t: int, frame: DecodedFrame, boxes: list) -> None:
        for track, box in boxes:
            self.waiting.append(((id(track), t), *self.backend.patch(frame, box)))
        if len(self.waiting) >= DLIB_BURST:
            self.flush()

    def flush(self) -> None:
        for key, patch, place in self.waiting:
            self.points[key] = self.backend.points(patch, place)
        self.waiting.clear()

    def arrays(self, kept: list, n_frames: int) -> dict[str, np.ndarray]:
        self.flush()
        out = np.full((n_frames, N_POINTS, 2), np.nan, np.float32)
        for track in kept:
            for t in range(track.frames[0], track.frames[-1] + 1):
                out[t] = self.points[(id(track), t)]
        return {"landmarks": out}


# ---------------------------------------------------------------------------------------------- FAN
def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip whose records include constants.pkl (torch.save's zips do not)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name == "constants.pkl" or name.endswith("/constants.pkl") for name in archive.namelist())


def load_fan(path: str | Path, device):
    """face-alignment's 2D FAN-4 from either of its published forms (see the module docstring), in
    eval mode on `device`. Returns a module whose output is a heatmap tensor or a list of them (the last
    is the prediction)."""
    import torch
    path = Path(path)
    if is_torchscript(path):
        with warnings.catch_warnings():  # torch ≥ 2.10 calls TorchScript deprecated; it still loads
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit")
            net = torch.jit.load(str(path), map_location="cpu")
    else:
        FAN = require("face_alignment.models").FAN
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        net = FAN(4)
        net.load_state_dict(state)
    return net.to(device).eval()


def fan_crop_matrix(box: np.ndarray) -> np.ndarray:
    """face_alignment's crop of a box as a 2 × 3 map from frame pixels to the 256 × 256 input."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    centre_x = (x1 + x2) / 2
    centre_y = (y1 + y2) / 2 - FAN_CENTRE_SHIFT * (y2 - y1)
    side = FAN_SCALE_FACTOR * max((x2 - x1) + (y2 - y1), 1e-3) / FAN_REFERENCE_SCALE
    scale = FAN_INPUT / side
    half = (FAN_INPUT - 1) / 2
    return np.array([[scale, 0, half - scale * centre_x], [0, scale, half - scale * centre_y]])


def heatmap_peaks(heatmaps):
    """(B, 68, H, W) heatmaps → (B, 68, 2) peak positions in heatmap pixels (centres at integers):
    the maximum, moved 0.25 towards the larger neighbour on each axis where it has both neighbours."""
    import torch
    batch, points, height, width = heatmaps.shape
    flat = heatmaps.reshape(batch, points, height * width)
    index = flat.argmax(dim=-1)
    y, x = index // width, index % width
    peaks = torch.stack([x, y], dim=-1).to(torch.float32)
    inside_x = (x > 0) & (x < width - 1)
    inside_y = (y > 0) & (y < height - 1)
    at = lambda dy, dx: flat.gather(-1, ((y + dy).clamp(0, height - 1) * width  # noqa: E731
                                         + (x + dx).clamp(0, width - 1)).unsqueeze(-1)).squeeze(-1)
    peaks[..., 0] += torch.where(inside_x & inside_y, torch.sign(at(0, 1) - at(0, -1)) * 0.25, 0.0)
    peaks[..., 1] += torch.where(inside_x & inside_y, torch.sign(at(1, 0) - at(-1, 0)) * 0.25, 0.0)
    return peaks


def heatmap_to_frame(peaks: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Heatmap positions (B, 68, 2) → frame pixels through each crop's inverse map (B, 2, 3)."""
    stride = FAN_INPUT / FAN_HEATMAP
    crop = (peaks + 0.5) * stride - 0.5  # heatmap pixel centre → input pixel coordinates
    scale = matrices[:, 0, 0][:, None, None]
    return (crop - matrices[:, None, :, 2]) / scale


class FanLandmarks:
    """FAN on batches of batch_size crops, on the device chosen once."""

    reads = "bgr"  # landmarks_clip gives it BGR frames (media.video_frames), at a reduced size

    def __init__(self, settings: LandmarksSettings, device=None):
        import torch

        from unisync_model.io.device import pick_device
        self.torch = torch
        self.device = device if device is not None else pick_device()
        self.weights = resolve(settings.fan_weights)
        self.net = load_fan(self.weights, self.device)
        self.batch_size = max(1, int(settings.batch_size))

    def forward(self, crops: list[np.ndarray]) -> np.ndarray:
        """RGB 256 × 256 crops → (B, 68, 2) heatmap peak positions."""
        torch = self.torch
        batch = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            out = self.net(batch)
            if isinstance(out, (list, tuple)):
                out = out[-1]
            return heatmap_peaks(out.float()).cpu().numpy().astype(np.float64)

    def __call__(self, frames: Iterable[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        points, crops, matrices = [], [], []
        for t, frame in zip(range(len(boxes)), frames):
            matrix = fan_crop_matrix(boxes[t])
            crop = cv2.warpAffine(frame, matrix, (FAN_INPUT, FAN_INPUT), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
            matrices.append(matrix)
            if len(crops) == self.batch_size:
                points.append(heatmap_to_frame(self.forward(crops), np.stack(matrices)))
                crops, matrices = [], []
        if crops:
            points.append(heatmap_to_frame(self.forward(crops), np.stack(matrices)))
        return np.concatenate(points) if points else np.zeros((0, N_POINTS, 2))


# ---------------------------------------------------------------------------------------- the stage
class Backend(Protocol):
    reads: str  # "luma": io.frames.DecodedFrame objects at full size; "bgr": BGR arrays at decode_size

    def __call__(self, frames: Iterable, boxes: np.ndarray) -> np.ndarray: ...


def make_backend(settings: LandmarksSettings) -> Backend:
    if settings.backend == "dlib":
        return DlibLandmarks(settings)
    if settings.backend == "fan":
        return FanLandmarks(settings)
    raise ValueError(f"unknown landmarks backend {settings.backend!r}; known: 'dlib', 'fan'")


def decode_size(track: np.ndarray, width: int, height: int) -> tuple[int, int]:
    """The smallest decoding size at which every face box of the clip keeps DECODE_FACE_SIDE pixels."""
    sides = np.minimum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    return crop_decode_size(width, height, sides, DECODE_FACE_SIDE)


def landmarks_clip(path: str | Path, track: np.ndarray, backend: Backend) -> tuple[np.ndarray, dict]:
    """One clip's (T, 68, 2) float32 landmarks in source pixels, and a record of how they were made."""
    info = probe(path)
    if backend.reads == "luma":
        width, height = info.width, info.height
        source = decoded_frames(path, info)
    else:
        width, height = decode_size(track, info.width, info.height)
        source = video_frames(path, width, height, info=info)
    to_decoded = np.array([width / info.width, height / info.height] * 2)
    boxes = track[:, :4].astype(np.float64) * to_decoded
    decoded = 0

    def frames() -> Iterator:
        nonlocal decoded
        for frame in source:  # read to the end, count every frame
            decoded += 1
            if decoded <= len(track):
                yield frame

    stream = frames()
    points = backend(stream, boxes)
    for _ in stream:  # the backend stops at T frames: drain the decoder, so every frame is counted
        pass
    if len(points) != len(track):
        raise SkipClip(f"decoded {decoded} frames, the track has {len(track)}")
    points = points / to_decoded[:2]
    record = {"decoded_size": [width, height], "frames_outside_segments": int((track[:, SEGMENT] < 0).sum())}
    return points.astype(np.float32), record


def extract_landmarks(clips: pd.DataFrame, tracks_shard: str | Path, out: str | Path,
                      settings: LandmarksSettings) -> tuple[int, int]:
    tracks = ShardReader(tracks_shard)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    backend = make_backend(settings)
    attrs = {"backend": settings.backend, "settings": to_dict(settings), "points": N_POINTS,
             "order": "iBUG 300-W 68", "units": "source-frame pixels (x, y)",
             "weights": Path(backend.weights).name}
    if settings.backend == "dlib":
        attrs["dlib_version"] = backend.dlib.__version__
        attrs["decoder"] = decoder_version()
        attrs["dlib_box"] = {"width": DLIB_BOX_WIDTH, "height": DLIB_BOX_HEIGHT, "shift": DLIB_BOX_SHIFT,
                             "face_side": DLIB_FACE_SIDE}
    else:
        attrs["face_alignment_version"] = require("face_alignment").__version__
        attrs["device"] = str(backend.device)
        attrs["reference_scale"] = FAN_REFERENCE_SCALE
    return run_stage(tracks.clip_ids, lambda clip_id: landmarks_clip(paths[clip_id], tracks.read(clip_id), backend),
                     out, "landmarks", attrs, skip_on=(MediaError,), upstream_skipped=tracks.skipped)


def clip_computer(settings: LandmarksSettings, device=None):
    """One clip's landmarks from its video, the backend loaded once (the registry's per-clip function)."""
    backend = make_backend(settings)
    return lambda clip: landmarks_clip(clip.path, clip.track, backend)[0]
