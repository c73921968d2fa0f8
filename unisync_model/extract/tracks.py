"""tracks stage: the speaking face of every frame, from OpenCV's YuNet detector.

Per frame we keep one face: the detection that overlaps the previous frame's face most, else the
largest. Short gaps are bridged by linear interpolation, then the box and keypoints are smoothed
with a centred moving average so that crops do not jitter.

A track row (float32) holds TRACK_COLUMNS: the box corners in source pixels, the detector score,
YuNet's 5 keypoints (right eye, left eye, nose tip, right and left mouth corner), and whether the
face was detected in that frame (1) or interpolated (0).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.media import MediaError, probe, video_frames
from unisync_model.settings import TracksSettings, to_dict
from unisync_model.weights import resolve

TRACK_COLUMNS = ["x1", "y1", "x2", "y2", "score",
                 "reye_x", "reye_y", "leye_x", "leye_y", "nose_x", "nose_y",
                 "rmouth_x", "rmouth_y", "lmouth_x", "lmouth_y", "detected"]
MIN_FACE_FRACTION = 0.5  # a clip whose face is found in fewer frames than this is skipped


class YuNetDetector:
    """cv2.FaceDetectorYN on frames downscaled to at most `detect_width` pixels wide."""

    def __init__(self, settings: TracksSettings):
        self.model = str(resolve(settings.weights))
        self.settings = settings
        self._detector = None
        self._size: tuple[int, int] | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Faces in one BGR frame: N × 15 (x1, y1, x2, y2, 10 keypoint coordinates, score), source pixels."""
        height, width = frame.shape[:2]
        scale = min(1.0, self.settings.detect_width / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != self._size:
            if self._detector is None:
                self._detector = cv2.FaceDetectorYN.create(self.model, "", size, self.settings.score_threshold)
            self._detector.setInputSize(size)
            self._size = size
        small = frame if scale == 1.0 else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        _, faces = self._detector.detect(small)
        if faces is None:
            return np.zeros((0, 15), np.float32)
        faces = faces.astype(np.float32) / np.float32(scale)
        faces[:, 14] *= scale  # the score is not a coordinate
        boxes = faces.copy()
        boxes[:, 2] = faces[:, 0] + faces[:, 2]
        boxes[:, 3] = faces[:, 1] + faces[:, 3]
        return boxes


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a (x1, y1, x2, y2) with each row of b."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-6)


def follow_face(detections: list[np.ndarray]) -> np.ndarray:
    """One face per frame (T × 15, NaN where none): the best overlap with the last face kept, else the largest."""
    chosen = np.full((len(detections), 15), np.nan, np.float32)
    last = None
    for t, faces in enumerate(detections):
        if len(faces) == 0:
            continue
        overlap = iou(last, faces) if last is not None else np.zeros(len(faces))
        if overlap.max() > 0.3:
            k = int(overlap.argmax())
        else:
            k = int(((faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])).argmax())
        chosen[t] = faces[k]
        last = faces[k]
    return chosen


def bridge_and_smooth(chosen: np.ndarray, settings: TracksSettings) -> np.ndarray:
    """Fill gaps by interpolation (held at the ends), smooth, and add the `detected` column."""
    detected = ~np.isnan(chosen[:, 0])
    frames = np.arange(len(chosen))
    longest_gap = max((len(g) for g in np.split(frames[~detected], np.where(np.diff(frames[~detected]) > 1)[0] + 1)
                       if len(g)), default=0)
    if longest_gap > settings.max_gap_frames:
        # Until shot-aware cutting exists, a long gap means we cannot trust the track across it.
        raise SkipClip(f"no face for {longest_gap} consecutive frames (more than {settings.max_gap_frames})")
    filled = np.stack([np.interp(frames, frames[detected], chosen[detected, c]) for c in range(15)], axis=1)
    coords = np.r_[0:4, 4:14]
    if settings.smooth_frames > 1:
        filled[:, coords] = uniform_filter1d(filled[:, coords], settings.smooth_frames, axis=0, mode="nearest")
    # Reorder to TRACK_COLUMNS: box, score, keypoints, detected.
    return np.concatenate([filled[:, 0:4], filled[:, 14:15], filled[:, 4:14], detected[:, None]],
                          axis=1).astype(np.float32)


def track_clip(path: str | Path, detector: YuNetDetector, settings: TracksSettings) -> np.ndarray:
    detections = [detector(frame) for frame in video_frames(path, info=probe(path))]
    if not detections:
        raise SkipClip("no video frames")
    chosen = follow_face(detections)
    found = float(np.mean(~np.isnan(chosen[:, 0])))
    if found == 0.0:
        raise SkipClip("no face")
    if found < MIN_FACE_FRACTION:
        raise SkipClip(f"face in only {found:.0%} of frames")
    return bridge_and_smooth(chosen, settings)


def extract_tracks(clips: pd.DataFrame, out: str | Path, settings: TracksSettings) -> tuple[int, int]:
    detector = YuNetDetector(settings)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    return run_stage(paths, lambda clip_id: track_clip(paths[clip_id], detector, settings), out, "tracks",
                     {"backend": "yunet", "opencv_version": cv2.__version__, "settings": to_dict(settings),
                      "columns": TRACK_COLUMNS},
                     skip_on=(MediaError,))
