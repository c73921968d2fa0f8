"""An independent check that the rgb crops are centred on the mouth.

The track comes from YuNet; here dlib (its HOG frontal face detector and the 68-point shape predictor
of iBUG 300-W, from the `face-recognition-models` package) finds the mouth in the original decoded
frames, and the mouth landmarks (points 48–67) are carried into the crop through the same affine
transform the rgb stage applies to that frame's track box. A frame agrees when the mouth centre sits
near the crop's horizontal centre and the whole mouth lies inside the lower-half crop.

The transform is the rgb stage's own (unisync_model.extract.rgb.crop_matrix, from the track row (box and mouth corners) in
source pixels). That alone would not notice a stage that applies it to the wrong box or frame (say,
source-pixel boxes on frames decoded at a reduced size), so `locate_mouths` also warps each sampled
full-resolution frame with it and measures how far the stored crop is displaced from that warp
(phase correlation: robust to the blur of decoding at a reduced size, sensitive to misplacement).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from unisync_model.extract.rgb import X_COORDS, Y_COORDS, crop_matrix
from unisync_model.io.media import video_frames
from unisync_model.settings import RgbSettings

MOUTH = slice(48, 68)  # the 68-point scheme's outer and inner lip points
DETECT_SIDE = 640  # dlib's HOG runs on frames scaled so that their longer side is at most this
CENTRE_TOLERANCE = 12.0  # |mouth centre x − crop centre x| must be below this, in crop pixels (crop is 96 wide)
MIN_IOU = 0.2  # a dlib face is the tracked face when its box overlaps the track box at least this much


def shape_predictor_path() -> Path:
    """shape_predictor_68_face_landmarks.dat inside the face_recognition_models package, found
    through the package directory: importing the package needs pkg_resources (gone from setuptools 81)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face_recognition_models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    return path


def warp_lower_face(frame: np.ndarray, face: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """The lower-half crop (RGB) that `crop_matrix` implies for a track row, made the way the rgb stage does."""
    matrix = crop_matrix(face, settings)
    size = settings.face_size
    face = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(face[size // 2:], cv2.COLOR_BGR2RGB)


def crop_displacement(stored: np.ndarray, recomputed: np.ndarray) -> float:
    """How far (crop pixels) the stored crop is shifted from the recomputed one, by phase correlation."""
    a, b = (cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2GRAY).astype(np.float32) for c in (stored, recomputed))
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    return float(np.hypot(dx, dy))


def to_lower_crop(points: np.ndarray, face: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """Frame points (N × 2) → coordinates in the lower-half crop (x in [0, face_size], y in [0, face_size/2])."""
    matrix = crop_matrix(face, settings).astype(np.float64)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    return mapped - np.array([0.0, settings.face_size / 2])


@dataclass
class FrameVerdict:
    frame: int
    centre_x: float  # mouth centre in the lower-half crop
    centre_y: float
    inside: bool  # every mouth point inside the lower-half crop
    centred: bool  # |centre_x − face_size/2| < CENTRE_TOLERANCE

    @property
    def ok(self) -> bool:
        return self.inside and self.centred


def judge(mouth: np.ndarray, face: np.ndarray, settings: RgbSettings) -> FrameVerdict:
    """Whether the mouth (20 × 2 frame points) sits where it should in the crop of this track row."""
    p = to_lower_crop(mouth, face, settings)
    width, height = settings.face_size, settings.face_size / 2
    centre = p.mean(axis=0)
    inside = bool((p[:, 0] >= 0).all() and (p[:, 0] <= width).all() and (p[:, 1] >= 0).all()
                  and (p[:, 1] <= height).all())
    return FrameVerdict(-1, float(centre[0]), float(centre[1]), inside,
                        bool(abs(centre[0] - width / 2) < CENTRE_TOLERANCE))


class DlibMouths:
    """dlib faces and their 68 landmarks, in frame pixels."""

    def __init__(self):
        import dlib
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(shape_predictor_path()))

    def __call__(self, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(box x1, y1, x2, y2; landmarks 68 × 2)] for every face found in a BGR frame. HOG runs on
        the frame scaled to DETECT_SIDE (upsampled once when nothing is found at that size); the
        landmarks are predicted on the full-resolution frame."""
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, DETECT_SIDE / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects = self.detector(small, 0)
        if len(rects) == 0:
            rects = self.detector(small, 1)
        faces = []
        for r in rects:
            box = np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64) / scale
            full = self.dlib.rectangle(*(int(round(v)) for v in box))
            shape = self.predictor(gray, full)
            faces.append((box, np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)))
        return faces


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class ClipMouths:
    """What dlib saw in the sampled frames of one clip."""

    sampled: list[int] = field(default_factory=list)
    # frame → (track row, dlib mouth points) for frames where dlib found the tracked face
    mouths: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    no_face: int = 0  # sampled frames where dlib found no face at all
    elsewhere: int = 0  # sampled frames where dlib's faces do not overlap the track box
    crop_shift: list[float] = field(default_factory=list)  # stored crop's displacement from the recomputed one
    crop_difference: list[float] = field(default_factory=list)  # mean |stored − recomputed| per frame, 0..255


def sample_frames(track: np.ndarray, columns: list[str], count: int) -> list[int]:
    """`count` frames evenly spread over the usable part of the track (segment ≥ 0 where the track has
    a segment column, else every frame)."""
    frames = np.arange(len(track))
    if "segment" in columns:
        frames = frames[track[:, columns.index("segment")] >= 0]
    if len(frames) == 0:
        return []
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames)) + 2)[1:-1]
    return sorted({int(frames[int(round(p))]) for p in picks})


def locate_mouths(path: str | Path, track: np.ndarray, columns: list[str], crops: np.ndarray | None,
                  settings: RgbSettings, dlib_mouths: DlibMouths, count: int = 8) -> ClipMouths:
    """Run dlib on `count` sampled frames of the original video (decoded the way every stage decodes
    it: unisync_model.io.media.video_frames, 25 fps) and keep the mouth of the face that matches the track."""
    result = ClipMouths(sampled=sample_frames(track, columns, count))
    wanted = set(result.sampled)
    if not wanted:
        return result
    box_cols = [columns.index(c) for c in ("x1", "y1", "x2", "y2")]
    for t, frame in enumerate(video_frames(path)):  # read to the end: closing the pipe early fails the decode
        if t not in wanted or t >= len(track):
            continue
        face = track[t].astype(np.float64)  # the whole row: the crop is centred on the mouth keypoints
        box = face[box_cols]
        if crops is not None and len(crops) == len(track):
            recomputed = warp_lower_face(frame, face, settings)
            result.crop_shift.append(crop_displacement(crops[t], recomputed))
            result.crop_difference.append(float(np.abs(recomputed.astype(np.int16) - crops[t]).mean()))
        faces = dlib_mouths(frame)
        if not faces:
            result.no_face += 1
            continue
        overlaps = [iou(box, face_box) for face_box, _ in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] < MIN_IOU:
            result.elsewhere += 1
            continue
        result.mouths[t] = (face, faces[best][1][MOUTH])
    return result


def verdicts(found: ClipMouths, settings: RgbSettings, shift: tuple[float, float] = (0.0, 0.0)) -> list[FrameVerdict]:
    """One verdict per frame where dlib found the tracked face (plus a failing one per frame where its
    faces were elsewhere). `shift` moves the track box by that fraction of its width and height: the
    negative control."""
    out = []
    for t, (face, mouth) in sorted(found.mouths.items()):
        w, h = face[2] - face[0], face[3] - face[1]
        moved = face.copy()
        moved[X_COORDS] += shift[0] * w
        moved[Y_COORDS] += shift[1] * h
        verdict = judge(mouth, moved, settings)
        verdict.frame = t
        out.append(verdict)
    out += [FrameVerdict(-1, float("nan"), float("nan"), False, False)] * found.elsewhere
    return out
