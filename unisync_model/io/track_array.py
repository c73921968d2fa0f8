"""The track array: what the tracks stage writes per frame and every later stage, the training
windows, the scorers and the figures read (float32, one row per 25 fps frame).

A row holds TRACK_COLUMNS: the box corners in source pixels, the detector score, YuNet's 5 keypoints
(right eye, left eye, nose tip, right and left mouth corner), whether the face was detected in that
frame (1) or interpolated (0), and the frame's face segment (-1: outside every segment, where no
window is drawn).
"""
from __future__ import annotations

import numpy as np

TRACK_COLUMNS = ["x1", "y1", "x2", "y2", "score",
                 "reye_x", "reye_y", "leye_x", "leye_y", "nose_x", "nose_y",
                 "rmouth_x", "rmouth_y", "lmouth_x", "lmouth_y", "detected", "segment"]
SEGMENT = TRACK_COLUMNS.index("segment")


def segments_of(track: np.ndarray) -> list[tuple[int, int]]:
    """The [start, stop) frame ranges of a track's segments."""
    segment = track[:, SEGMENT].astype(np.int64)
    return [(int(np.flatnonzero(segment == s)[0]), int(np.flatnonzero(segment == s)[-1]) + 1)
            for s in np.unique(segment[segment >= 0])]
