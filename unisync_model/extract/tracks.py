"""tracks stage: the speaking face of every frame, from OpenCV's YuNet detector.

Frames are decoded at the detector's width (ffmpeg scales, so 4K video costs little). Detections
are linked across frames into face tracks (overlap with the track's last box, gaps of at most
max_gap_frames) and every track ends at a shot change (a jump of the colour histogram). The speaking
person's track is the largest and most consistent one: the most frames × typical face side (area
would let a big face seen for a moment beat the face seen all along).
Later or earlier tracks of a similar size (the same person in another shot) are kept too, smaller
ones (audience, insets) are not. Each kept track is a segment: its gaps are interpolated and its
box and keypoints smoothed within it. Frames outside every segment get a box interpolated between
the nearest segments (held at the ends) and segment -1: no window is drawn there, but every stage
keeps one row per frame, aligned with the audio.

A track row (float32) holds TRACK_COLUMNS: the box corners in source pixels, the detector score,
YuNet's 5 keypoints (right eye, left eye, nose tip, right and left mouth corner), whether the face
was detected in that frame (1) or interpolated (0), and the frame's segment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io.media import MediaError, probe, video_frames
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS, segments_of  # noqa: F401 (the stage's format)
from unisync_model.io.weights import resolve
from unisync_model.settings import WINDOW_FRAMES, TracksSettings, to_dict

MIN_SEGMENT_FRAMES = WINDOW_FRAMES  # a segment shorter than one model window is of no use
LINK_IOU = 0.3  # a detection continues a track when it overlaps the track's last box this much


class YuNetDetector:
    """cv2.FaceDetectorYN on frames downscaled to at most `detect_width` pixels wide."""

    def __init__(self, settings: TracksSettings):
        self.model = str(resolve(settings.weights))
        self.settings = settings
        self._detector = None
        self._size: tuple[int, int] | None = None

    def _create(self, size: tuple[int, int]):
        """The detector, made with OpenCV's log at errors only: its dnn engine warns on every run
        that it has no preferable target ("setPreferableTarget … not supported"), which says nothing."""
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
        try:
            return cv2.FaceDetectorYN.create(self.model, "", size, self.settings.score_threshold)
        finally:
            cv2.utils.logging.setLogLevel(level)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Faces in one BGR frame: N × 15 (x1, y1, x2, y2, 10 keypoint coordinates, score), frame pixels."""
        height, width = frame.shape[:2]
        scale = min(1.0, self.settings.detect_width / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != self._size:
            if self._detector is None:
                self._detector = self._create(size)
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


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def shot_changes(histograms: list[np.ndarray], threshold: float) -> np.ndarray:
    """cut[t]: frame t starts a new shot (its colours differ from frame t-1's by more than the threshold)."""
    cut = np.zeros(len(histograms), bool)
    for t in range(1, len(histograms)):
        cut[t] = cv2.compareHist(histograms[t - 1], histograms[t], cv2.HISTCMP_BHATTACHARYYA) > threshold
    return cut


@dataclass
class FaceTrack:
    frames: list[int] = field(default_factory=list)
    faces: list[np.ndarray] = field(default_factory=list)

    @property
    def span(self) -> int:
        return self.frames[-1] - self.frames[0] + 1

    @property
    def size(self) -> float:
        """The typical face side, in pixels."""
        return float(np.median([np.sqrt(max((f[2] - f[0]) * (f[3] - f[1]), 0.0)) for f in self.faces]))

    @property
    def weight(self) -> float:
        return len(self.frames) * self.size


def link_faces(detections: list[np.ndarray], cuts: np.ndarray, max_gap: int) -> list[FaceTrack]:
    """Link each frame's detections, largest first, to the open track whose last box overlaps most."""
    finished: list[FaceTrack] = []
    open_tracks: list[FaceTrack] = []
    for t, faces in enumerate(detections):
        if cuts[t]:
            finished += open_tracks
            open_tracks = []
        finished += [track for track in open_tracks if t - track.frames[-1] - 1 > max_gap]
        open_tracks = [track for track in open_tracks if t - track.frames[-1] - 1 <= max_gap]
        areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        for k in np.argsort(-areas):
            free = [track for track in open_tracks if track.frames[-1] != t]
            overlaps = [iou(track.faces[-1], faces[k:k + 1])[0] for track in free]
            if overlaps and max(overlaps) > LINK_IOU:
                track = free[int(np.argmax(overlaps))]
            else:
                track = FaceTrack()
                open_tracks.append(track)
            track.frames.append(t)
            track.faces.append(faces[k])
    return finished + open_tracks


def speaking_face(tracks: list[FaceTrack], min_face_ratio: float) -> list[FaceTrack]:
    """The main track (largest weight), and the tracks of similar size that do not overlap it in time."""
    usable = sorted((t for t in tracks if t.span >= MIN_SEGMENT_FRAMES), key=lambda t: -t.weight)
    if not usable:
        return []
    kept = [usable[0]]
    for track in usable[1:]:
        similar = track.size >= min_face_ratio * usable[0].size
        apart = all(track.frames[0] > k.frames[-1] or track.frames[-1] < k.frames[0] for k in kept)
        if similar and apart:
            kept.append(track)
    return sorted(kept, key=lambda t: t.frames[0])


def track_array(n_frames: int, kept: list[FaceTrack], smooth_frames: int) -> np.ndarray:
    """The T × len(TRACK_COLUMNS) array of the kept tracks (see the module docstring)."""
    faces = np.full((n_frames, 15), np.nan, np.float32)
    detected = np.zeros(n_frames, np.float32)
    segment = np.full(n_frames, -1.0, np.float32)
    coords = np.r_[0:4, 4:14]
    for s, track in enumerate(kept):
        first, last = track.frames[0], track.frames[-1] + 1
        frames = np.arange(first, last)
        seen = np.array(track.frames)
        values = np.stack(track.faces)
        filled = np.stack([np.interp(frames, seen, values[:, c]) for c in range(15)], axis=1)
        if smooth_frames > 1:
            filled[:, coords] = uniform_filter1d(filled[:, coords], smooth_frames, axis=0, mode="nearest")
        faces[first:last] = filled
        detected[seen] = 1.0
        segment[first:last] = s
    known = np.flatnonzero(segment >= 0)  # outside the segments: interpolate, hold at the ends
    everywhere = np.arange(n_frames)
    faces = np.stack([np.interp(everywhere, known, faces[known, c]) for c in range(15)], axis=1)
    return np.concatenate([faces[:, 0:4], faces[:, 14:15], faces[:, 4:14], detected[:, None], segment[:, None]],
                          axis=1).astype(np.float32)


def detect_size(width: int, height: int, detect_width: int) -> tuple[int, int]:
    """The decoding size for detection: at most detect_width wide, the aspect ratio kept."""
    scaled = min(width, detect_width)
    return scaled, max(1, round(height * scaled / width))


def track_clip(path: str | Path, detector: YuNetDetector, settings: TracksSettings) -> tuple[np.ndarray, dict]:
    info = probe(path)
    width, height = detect_size(info.width, info.height, settings.detect_width)
    detections, histograms = [], []
    for frame in video_frames(path, width, height, info=info):
        detections.append(detector(frame))
        histograms.append(colour_histogram(frame))
    if not detections:
        raise SkipClip("no video frames")
    to_source = np.ones(15, np.float32)  # detections are in decoded pixels: scale back to the source's
    to_source[0:14:2], to_source[1:14:2] = info.width / width, info.height / height
    detections = [faces * to_source for faces in detections]
    cuts = shot_changes(histograms, settings.shot_change)
    tracks = link_faces(detections, cuts, settings.max_gap_frames)
    if not tracks:
        raise SkipClip("no face")
    kept = speaking_face(tracks, settings.min_face_ratio)
    if not kept:
        longest = max(t.span for t in tracks)
        raise SkipClip(f"too short after cleaning: longest face track {longest} frames (< {MIN_SEGMENT_FRAMES})")
    track = track_array(len(detections), kept, settings.smooth_frames)
    segments = segments_of(track)
    record = {"frames": len(detections), "segments": segments,
              "frames_in_segments": sum(b - a for a, b in segments),
              "detected_frames": int(track[:, TRACK_COLUMNS.index("detected")].sum()),
              "most_faces_in_a_frame": max(len(d) for d in detections), "face_tracks": len(tracks),
              "shot_changes": int(cuts.sum()), "decoded_size": [width, height]}
    return track, record


def extract_tracks(clips: pd.DataFrame, out: str | Path, settings: TracksSettings) -> tuple[int, int]:
    detector = YuNetDetector(settings)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    return run_stage(paths, lambda clip_id: track_clip(paths[clip_id], detector, settings), out, "tracks",
                     {"backend": "yunet", "opencv_version": cv2.__version__, "settings": to_dict(settings),
                      "columns": TRACK_COLUMNS},
                     skip_on=(MediaError,))
