"""What a face track is: YuNet's detections in a frame, detections linked across frames into tracks,
the speaking person's tracks chosen among them, and a kept track's boxes (gaps interpolated, smoothed)
written as the track array of the tracks stage (TRACK_COLUMNS). The offline stage and the streaming
tracker (track_stream.py) share these pieces, so a box is the same number whichever computed it.

Linking: each detection, largest first, continues the open track whose last box overlaps it most
(IoU > LINK_IOU), else starts a track; a track ends after max_gap_frames without a detection or at a
shot change. The speaking person's tracks are chosen by one of two rules (TracksSettings.speaker):
"largest", the largest and most consistent track (the most frames × typical face side: area would let
a big face seen for a moment beat the face seen all along), or "sync", the track whose mouth follows
the sound best (its sync confidence, measured by the caller: scoring/speaker_choice.py, tracks.py).
Either way, tracks that do not overlap a chosen one in time and are of a similar size to the largest
(the same person in another shot) are kept too; smaller ones (audience, insets) never are.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import cv2
import numpy as np

from unisync_model.io.weights import resolve
from unisync_model.settings import WINDOW_FRAMES, TracksSettings

MIN_SEGMENT_FRAMES = WINDOW_FRAMES  # a segment shorter than one model window is of no use
LINK_IOU = 0.3  # a detection continues a track when it overlaps the track's last box this much
COORDS = np.r_[0:4, 4:14]  # the columns of a detection row that are coordinates (14 is the score)


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


def shot_distance(previous: np.ndarray, current: np.ndarray) -> float:
    """Bhattacharyya distance of two frames' colour histograms: above TracksSettings.shot_change, a cut."""
    return float(cv2.compareHist(previous, current, cv2.HISTCMP_BHATTACHARYYA))


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


class Linker:
    """Links detections frame by frame (`step`), in frame order; `tracks()` is every track so far,
    finished ones first, each in the order it started."""

    def __init__(self, max_gap: int):
        self.max_gap = max_gap
        self.finished: list[FaceTrack] = []
        self.open: list[FaceTrack] = []

    def step(self, t: int, faces: np.ndarray | None, cut: bool = False) -> None:
        """Frame t: a shot change ends every open track, max_gap frames without a detection end one; then
        `faces` (N × 15; None where the frame was not searched for faces) continue or start tracks."""
        if cut:
            self.finished += self.open
            self.open = []
        self.finished += [track for track in self.open if t - track.frames[-1] - 1 > self.max_gap]
        self.open = [track for track in self.open if t - track.frames[-1] - 1 <= self.max_gap]
        if faces is None:
            return
        areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        for k in np.argsort(-areas):
            free = [track for track in self.open if track.frames[-1] != t]
            overlaps = [iou(track.faces[-1], faces[k:k + 1])[0] for track in free]
            if overlaps and max(overlaps) > LINK_IOU:
                track = free[int(np.argmax(overlaps))]
            else:
                track = FaceTrack()
                self.open.append(track)
            track.frames.append(t)
            track.faces.append(faces[k])

    def end(self) -> None:
        """The video is over: every open track has ended."""
        self.finished += self.open
        self.open = []

    def tracks(self) -> list[FaceTrack]:
        return self.finished + self.open


def link_faces(detections: list[np.ndarray | None], cuts: np.ndarray, max_gap: int) -> list[FaceTrack]:
    """Link each frame's detections, largest first, to the open track whose last box overlaps most."""
    linker = Linker(max_gap)
    for t, faces in enumerate(detections):
        linker.step(t, faces, bool(cuts[t]))
    return linker.tracks()


SPEAKER_RULES = ("largest", "sync")


def speaker_rule(settings: TracksSettings, default: str) -> str:
    """The rule TracksSettings.speaker names, `default` when it names none (the tracks stage: largest;
    `unisync score`: sync); a clear error for an unknown one."""
    rule = settings.speaker or default
    if rule not in SPEAKER_RULES:
        raise ValueError(f"tracks.speaker must be one of {', '.join(SPEAKER_RULES)} (or null); got {rule!r}")
    return rule


def usable_tracks(tracks: list[FaceTrack]) -> list[FaceTrack]:
    """The tracks long enough for a window, in the order they start: the candidates a rule chooses
    among (their position in this list is the track id scores report)."""
    return sorted((t for t in tracks if t.span >= MIN_SEGMENT_FRAMES), key=lambda t: t.frames[0])


def _apart(track: FaceTrack, kept: list[FaceTrack]) -> bool:
    return all(track.frames[0] > k.frames[-1] or track.frames[-1] < k.frames[0] for k in kept)


def _choose(usable: list[FaceTrack], order: list[int], min_face_ratio: float) -> list[FaceTrack]:
    """Walk the usable tracks in `order` (indices, best first) and keep each one of a similar size to
    the main (largest-weight) track that overlaps no kept one in time; the main track may always be
    kept. In the order they start."""
    if not usable:
        return []
    main = max(usable, key=lambda t: t.weight)
    kept: list[FaceTrack] = []
    for track in (usable[k] for k in order):
        similar = track is main or track.size >= min_face_ratio * main.size
        if similar and _apart(track, kept):
            kept.append(track)
    return sorted(kept, key=lambda t: t.frames[0])


def speaking_face(tracks: list[FaceTrack], min_face_ratio: float) -> list[FaceTrack]:
    """The "largest" rule: the main track (largest weight), and the tracks of similar size that do not
    overlap it in time."""
    usable = usable_tracks(tracks)
    return _choose(usable, sorted(range(len(usable)), key=lambda k: -usable[k].weight), min_face_ratio)


def speaking_face_by_sync(usable: list[FaceTrack], confidences: list[float | None],
                          min_face_ratio: float) -> list[FaceTrack]:
    """The "sync" rule: among the usable tracks (usable_tracks' list) and their sync confidences
    (None: no score), the most confident first, each kept unless it overlaps a kept one in time or is
    much smaller than the main track. A track never spans a cut (the linker ends it there), so in each
    shot the face whose mouth follows the sound best is the speaker; a track without a score comes
    after every scored one (ties and unscored tracks: the larger weight first)."""
    if len(confidences) != len(usable):
        raise ValueError(f"{len(confidences)} confidences for {len(usable)} tracks")
    rank = [(-(c if c is not None and np.isfinite(c) else -np.inf), -t.weight) for t, c in zip(usable, confidences)]
    return _choose(usable, sorted(range(len(usable)), key=lambda k: rank[k]), min_face_ratio)


def layers(tracks: list[FaceTrack]) -> list[list[FaceTrack]]:
    """The tracks split into as few groups of tracks apart in time as the video needs (as many as the
    most faces seen at once), each in the order its tracks start: a group fits in one track array
    (one face per frame), so the faces can be scored a group at a time."""
    out: list[list[FaceTrack]] = []
    for track in sorted(tracks, key=lambda t: t.frames[0]):
        free = next((group for group in out if group[-1].frames[-1] < track.frames[0]), None)
        if free is None:
            out.append([track])
        else:
            free.append(track)
    return out


def smoothing_offsets(smooth_frames: int) -> range:
    """The frames a smoothed box averages, relative to its own (scipy's uniform_filter1d window)."""
    size = max(1, int(smooth_frames))
    return range(-(size // 2), size - size // 2)


def interpolated_rows(x: np.ndarray, seen: np.ndarray, values: np.ndarray) -> np.ndarray:
    """np.interp of every column of `values` (len(seen) × C) at `x` at once, with np.interp's own
    arithmetic (slope · (x − x_j) + f_j; the end values held outside `seen`), so the numbers are its."""
    x = np.asarray(x, np.float64)
    if len(seen) == 1:
        return np.repeat(values[:1], len(x), axis=0)
    j = np.clip(np.searchsorted(seen, x, side="right") - 1, 0, len(seen) - 2)
    left, right = values[j], values[j + 1]
    slope = (right - left) / (seen[j + 1] - seen[j]).astype(np.float64)[:, None]
    out = slope * (x - seen[j])[:, None] + left
    out[x <= seen[0]] = values[0]
    out[x >= seen[-1]] = values[-1]
    exact = seen[j] == x  # a detection's own frame: its value (np.interp too)
    out[exact] = left[exact]
    return out


def smoothed_boxes(track: FaceTrack, frames: np.ndarray, smooth_frames: int, last: int | None = None) -> np.ndarray:
    """The rows (len(frames) × 15, float64) of `track` at `frames`: detections interpolated across its gaps,
    the coordinates averaged over the smoothing window, clamped to [first detection, `last`] (its last
    detection by default; the edge frames repeat). The streaming tracker asks for a frame once its window
    is known; every frame's value depends only on the detections around it, so it is the same number
    whenever it is computed (and only those detections are read: a long track costs no more a call)."""
    frames = np.asarray(frames)
    offsets = smoothing_offsets(smooth_frames)
    first, last = int(track.frames[0]), int(track.frames[-1] if last is None else last)
    if len(frames) == 0:
        return np.zeros((0, 15))
    # the detections around the frames asked for, found by bisection in the track's own list
    lo = max(0, bisect.bisect_right(track.frames, int(frames.min()) + offsets[0]) - 1)
    hi = min(len(track.frames), bisect.bisect_left(track.frames, int(frames.max()) + offsets[-1]) + 2)
    seen = np.asarray(track.frames[lo:hi])
    values = np.stack(track.faces[lo:hi]).astype(np.float64)
    out = interpolated_rows(frames, seen, values)
    if len(offsets) > 1:
        total = np.zeros((len(frames), len(COORDS)))
        for k in offsets:
            total += interpolated_rows(np.clip(frames + k, first, last), seen, values[:, COORDS])
        out[:, COORDS] = total / len(offsets)
    return out


def track_array(n_frames: int, kept: list[FaceTrack], smooth_frames: int) -> np.ndarray:
    """The T × len(TRACK_COLUMNS) array of the kept tracks (see tracks.py's docstring)."""
    faces = np.full((n_frames, 15), np.nan, np.float32)
    detected = np.zeros(n_frames, np.float32)
    segment = np.full(n_frames, -1.0, np.float32)
    for s, track in enumerate(kept):
        first, last = track.frames[0], track.frames[-1] + 1
        faces[first:last] = smoothed_boxes(track, np.arange(first, last), smooth_frames)
        detected[np.array(track.frames)] = 1.0
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
