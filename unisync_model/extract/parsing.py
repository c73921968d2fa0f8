"""parsing stage: a face-parsing class map per frame over the lower half of the face crop, the same
region the rgb stage shows (unisync_model.extract.rgb.crop_matrix of the same track row).

Output per clip: (T, face_size/2, face_size) uint8 class ids, frame t ↔ track row t.

Class ids follow facexlib's BiSeNet (CelebAMask-HQ's 19 classes in the order BiSeNet was trained
with; facexlib's inference_parsing.py lists them): CLASS_NAMES below. Left and right are the sides
of the image (CelebA's own landmark names put `lefteye` on the image's left), so l_eye is the eye
the iBUG-68 scheme numbers 36–41.

Backends:
"landmarks" (offline, no model): regions filled from the 68 iBUG points of the landmarks shard
    (LANDMARK_REGIONS, later ones on top), in the same ids wherever the classes mean the same thing.
    Classes the points cannot place (eye_g, ears, neck, cloth, hair, hat) never appear; a frame whose
    landmarks are missing is all background and counted in the clip's info ("frames_without_landmarks").
"facexlib": facexlib's BiSeNet or ParseNet (settings.model) on a PARSE_SIZE square PARSE_CONTEXT times
    the crop's side, normalised as facexlib's inference scripts do; the argmax map is warped back onto
    the face crop (nearest neighbour) and ParseNet's labels mapped onto the BiSeNet ids. Batched; cuda
    where present.

The landmark regions point by point and the facexlib input in full: docs/representations.md#parsing
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.rgb import X_COORDS, Y_COORDS, crop_matrix
from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io.media import MediaError, crop_decode_size, probe, video_frames
from unisync_model.io.optional import require
from unisync_model.io.shards import ShardReader
from unisync_model.io.weights import resolve
from unisync_model.settings import ParsingSettings, RgbSettings, to_dict

log = logging.getLogger(__name__)

CLASS_NAMES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
               "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
CLASS = {name: k for k, name in enumerate(CLASS_NAMES)}
LIP_CLASSES = (CLASS["mouth"], CLASS["u_lip"], CLASS["l_lip"])

# facexlib's ParseNet (from PSFRGAN) numbers the same classes in CelebAMask-HQ's annotation order
PARSENET_NAMES = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                  "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
PARSENET_TO_CLASS = np.array([CLASS[name] for name in PARSENET_NAMES], np.uint8)


class Region(NamedTuple):
    name: str  # a CLASS_NAMES entry
    class_id: int
    points: tuple[int, ...]  # iBUG-68 indices, in polygon order


LANDMARK_REGIONS = (
    Region("skin", CLASS["skin"], (*range(0, 17), *range(26, 16, -1))),
    Region("l_brow", CLASS["l_brow"], tuple(range(17, 22))),
    Region("r_brow", CLASS["r_brow"], tuple(range(22, 27))),
    Region("l_eye", CLASS["l_eye"], tuple(range(36, 42))),
    Region("r_eye", CLASS["r_eye"], tuple(range(42, 48))),
    Region("nose", CLASS["nose"], tuple(range(27, 36))),
    Region("u_lip", CLASS["u_lip"], (*range(48, 55), *range(64, 59, -1))),
    Region("l_lip", CLASS["l_lip"], (*range(54, 60), 48, 60, *range(67, 63, -1))),
    Region("mouth", CLASS["mouth"], tuple(range(60, 68))),
)
BROW_EYE = {"l_brow": slice(36, 42), "r_brow": slice(42, 48)}
BROW_DEPTH = 0.3  # a brow's band reaches this fraction of the way from the brow line to its eye's centre
SUBPIXEL_BITS = 4  # fillPoly's `shift`: vertices at 1/16 pixel

UPSTREAM_SIZE = 512  # facexlib's models were trained on (and ParseNet is built for) 512 × 512 faces
PARSE_SIZE = UPSTREAM_SIZE  # the parsed square's pixels across
PARSE_CONTEXT = 1.6  # the parsed square's side, relative to the face crop's (same centre)
NORMALISATION = {  # (mean, std) of the RGB input scaled to [0, 1], per facexlib's inference scripts
    "bisenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "parsenet": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}



# ------------------------------------------------------------------------------------------ geometry

def rgb_settings(settings: ParsingSettings) -> RgbSettings:
    return RgbSettings(face_size=settings.face_size, box_scale=settings.box_scale)


def to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Frame points (N × 2) → face-crop pixels through a 2 × 3 affine map."""
    matrix = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def parse_matrix(crop: np.ndarray, face_size: int) -> np.ndarray:
    """The frame → parse-square map for a frame → face-crop map: the same centre, PARSE_CONTEXT
    times the side, PARSE_SIZE pixels across."""
    k = PARSE_SIZE / (PARSE_CONTEXT * face_size)
    out = np.asarray(crop, np.float64) * k
    out[:, 2] += PARSE_SIZE / 2 - k * face_size / 2
    return out.astype(np.float32)


def square_to_crop(face_size: int) -> np.ndarray:
    """The parse-square → face-crop map (the inverse of parse_matrix's scaling, the same for every frame)."""
    k = PARSE_SIZE / (PARSE_CONTEXT * face_size)
    shift = face_size / 2 - PARSE_SIZE / (2 * k)
    return np.array([[1 / k, 0, shift], [0, 1 / k, shift]], np.float32)


# ----------------------------------------------------------------------------------- landmarks backend

def region_polygon(region: Region, points: np.ndarray) -> np.ndarray:
    """The polygon (N × 2, crop pixels) of one region from the 68 crop-space points."""
    polygon = points[list(region.points)]
    if region.name in BROW_EYE:  # a brow is a line of points: give it a band towards its eye
        eye = points[BROW_EYE[region.name]].mean(axis=0)
        lower = polygon + BROW_DEPTH * (eye - polygon.mean(axis=0))
        polygon = np.concatenate([polygon, lower[::-1]])
    elif region.name == "nose":
        polygon = cv2.convexHull(polygon.astype(np.float32))[:, 0].astype(np.float64)
    return polygon


def polygon_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def render_landmarks(points: np.ndarray, face_size: int) -> np.ndarray:
    """68 points in face-crop pixels → the face_size × face_size class map (uint8)."""
    canvas = np.zeros((face_size, face_size), np.uint8)
    if not np.isfinite(points).all():
        return canvas
    scale = 1 << SUBPIXEL_BITS
    for region in LANDMARK_REGIONS:
        polygon = region_polygon(region, points)
        if region.name == "mouth" and polygon_area(polygon) < 1.0:
            continue  # closed lips: no interior to show
        # vertices at pixel centres' coordinates, in fixed point
        vertices = np.round(polygon * scale).astype(np.int32)
        cv2.fillPoly(canvas, [vertices], int(region.class_id), lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
    return canvas


def parse_landmarks(landmarks: np.ndarray, track: np.ndarray, settings: ParsingSettings) -> tuple[np.ndarray, dict]:
    """A clip's landmarks (T × 68 × 2, frame pixels) and track (T × 17) → (T × face_size/2 × face_size) ids."""
    if len(landmarks) != len(track):
        raise SkipClip(f"landmarks have {len(landmarks)} frames, the track has {len(track)}")
    size = settings.face_size
    crop = rgb_settings(settings)
    out = np.zeros((len(track), size // 2, size), np.uint8)
    missing = 0
    for t in range(len(track)):
        points = np.asarray(landmarks[t], np.float64)[:, :2]
        if not np.isfinite(points).all():
            missing += 1
            continue
        out[t] = render_landmarks(to_crop(points, crop_matrix(track[t], crop)), size)[size // 2:]
    return out, {"frames_without_landmarks": missing}


# ------------------------------------------------------------------------------------ facexlib backend

MODEL_NAMES = ("bisenet", "parsenet")


def build_model(name: str):
    """facexlib's architecture for `name`, randomly initialised (as init_parsing_model builds it)."""
    if name == "bisenet":
        return require("facexlib.parsing.bisenet").BiSeNet(num_class=len(CLASS_NAMES))
    if name == "parsenet":
        return require("facexlib.parsing.parsenet").ParseNet(in_size=UPSTREAM_SIZE, out_size=UPSTREAM_SIZE,
                                                              parsing_ch=len(CLASS_NAMES))
    raise ValueError(f"unknown parsing model {name!r}; known: {MODEL_NAMES}")


def load_state(path: Path) -> dict:
    """A state dict from an upstream file (a plain dict of tensors; a `module.` prefix is dropped)."""
    import torch
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "params" in state and isinstance(state["params"], dict):
        state = state["params"]  # basicsr-style wrapping, should a re-saved file use it
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


class FaceParser:
    """A facexlib parsing network on one device: RGB PARSE_SIZE squares (uint8) → class ids."""

    def __init__(self, model, name: str, device, batch_size: int):
        import torch
        if name not in NORMALISATION:
            raise ValueError(f"unknown parsing model {name!r}; known: {MODEL_NAMES}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.name = name
        self.batch_size = max(1, int(batch_size))
        mean, std = NORMALISATION[name]
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        table = PARSENET_TO_CLASS if name == "parsenet" else np.arange(len(CLASS_NAMES), dtype=np.uint8)
        self.table = torch.as_tensor(table.astype(np.int64), device=self.device)

    def preprocess(self, squares: np.ndarray):
        """B × H × W × 3 uint8 RGB → the normalised B × 3 × H × W float tensor on the device."""
        import torch
        x = torch.from_numpy(np.ascontiguousarray(squares)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    def __call__(self, squares: np.ndarray) -> np.ndarray:
        """B × PARSE_SIZE × PARSE_SIZE × 3 uint8 RGB → B × PARSE_SIZE × PARSE_SIZE uint8 ids (CLASS_NAMES)."""
        import torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(squares), self.batch_size):
                logits = self.model(self.preprocess(squares[start:start + self.batch_size]))[0]
                out.append(self.table[logits.argmax(dim=1)].to(torch.uint8).cpu().numpy())
        return np.concatenate(out)


def load_parser(settings: ParsingSettings, device) -> FaceParser:
    """facexlib's network with the weights settings.weights names, strictly loaded."""
    model = build_model(settings.model)
    path = resolve(settings.weights)
    state = load_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not hold facexlib's {settings.model} weights "
                         f"(settings.model must match the file): {str(err)[:400]}") from None
    return FaceParser(model, settings.model, device, settings.batch_size)


def parse_decode_size(track: np.ndarray, width: int, height: int, settings: ParsingSettings) -> tuple[int, int]:
    """The smallest decoding size at which every parsed square keeps PARSE_SIZE pixels across (the
    full size when the squares are smaller than that anyway)."""
    sides = PARSE_CONTEXT * settings.box_scale * np.maximum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    return crop_decode_size(width, height, sides, PARSE_SIZE)


def parse_clip(path: str | Path, track: np.ndarray, parser: Callable[[np.ndarray], np.ndarray],
               settings: ParsingSettings) -> np.ndarray:
    """Decode a clip, parse each frame's square and warp the class map onto the face crop."""
    info = probe(path)
    width, height = parse_decode_size(track, info.width, info.height, settings)
    faces = track.astype(np.float64)  # in decoded pixels
    faces[:, X_COORDS] *= width / info.width
    faces[:, Y_COORDS] *= height / info.height
    size = settings.face_size
    crop = rgb_settings(settings)
    back = square_to_crop(size)
    out = np.zeros((len(track), size // 2, size), np.uint8)
    squares = np.empty((max(1, getattr(parser, "batch_size", 32)), PARSE_SIZE, PARSE_SIZE, 3), np.uint8)
    pending: list[int] = []

    def flush() -> None:
        labels = parser(squares[:len(pending)])
        for k, t in enumerate(pending):
            full = cv2.warpAffine(labels[k], back, (size, size), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out[t] = full[size // 2:]
        pending.clear()

    decoded = 0
    for t, frame in zip(range(len(track)), video_frames(path, width, height, info=info)):
        matrix = parse_matrix(crop_matrix(faces[t], crop), size)
        square = cv2.warpAffine(frame, matrix, (PARSE_SIZE, PARSE_SIZE),
                                flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        squares[len(pending)] = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
        pending.append(t)
        decoded += 1
        if len(pending) == len(squares):
            flush()
    if pending:
        flush()
    if decoded != len(track):
        raise SkipClip(f"decoded {decoded} frames, the track has {len(track)}")
    return out


# ---------------------------------------------------------------------------------------------- stage

def extract_parsing(clips: pd.DataFrame, tracks_shard: str | Path, landmarks_shard: str | Path | None,
                    out: str | Path, settings: ParsingSettings) -> tuple[int, int]:
    tracks = ShardReader(tracks_shard)
    attrs = {"backend": settings.backend, "classes": list(CLASS_NAMES), "settings": to_dict(settings)}
    if settings.backend == "landmarks":
        if landmarks_shard is None:
            raise ValueError("the landmarks parsing backend needs the landmarks shard (--landmarks)")
        landmarks = ShardReader(landmarks_shard)
        attrs["regions"] = {r.name: {"class_id": r.class_id, "points": list(r.points)} for r in LANDMARK_REGIONS}

        def process(clip_id: str) -> tuple[np.ndarray, dict]:
            if clip_id not in tracks:
                raise SkipClip("no track for this clip in the tracks shard")
            return parse_landmarks(landmarks.read(clip_id), tracks.read(clip_id), settings)

        return run_stage(landmarks.clip_ids, process, out, "parsing", attrs, upstream_skipped=landmarks.skipped)
    if settings.backend == "facexlib":
        from unisync_model.io.device import pick_device
        device = pick_device()
        parser = load_parser(settings, device)
        paths = dict(zip(clips["clip_id"], clips["path"]))
        attrs.update(model=settings.model, device=str(device), parse_size=PARSE_SIZE, parse_context=PARSE_CONTEXT)
        log.info("parsing: facexlib %s on %s", settings.model, device)

        def process(clip_id: str) -> np.ndarray:
            if clip_id not in paths:
                raise SkipClip("not in the manifest")
            return parse_clip(paths[clip_id], tracks.read(clip_id), parser, settings)

        return run_stage(tracks.clip_ids, process, out, "parsing", attrs, skip_on=(MediaError,),
                         upstream_skipped=tracks.skipped)
    raise ValueError(f"unknown parsing backend {settings.backend!r}; known: 'landmarks', 'facexlib'")


def clip_computer(settings: ParsingSettings, device=None):
    """One clip's parsing maps: from its landmarks array (clip.arrays["landmarks"]) with the landmarks
    backend, else from its video with facexlib, loaded once (the registry's per-clip function)."""
    if settings.backend == "landmarks":
        return lambda clip: parse_landmarks(clip.arrays["landmarks"], clip.track, settings)[0]
    parser = load_parser(settings, device)
    return lambda clip: parse_clip(clip.path, clip.track, parser, settings)
