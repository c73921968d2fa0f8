"""tracks stage: the speaking face of every frame, from OpenCV's YuNet detector.

Each video is decoded once, in-process (io/frames.py), at 25 fps; faces are searched on every
`detect_every`-th frame (and after each cut) at the detector's width, linked into face tracks and the
speaking person's tracks kept (faces.py; track_stream.py follows the frames). Each kept track is a
segment: its gaps are interpolated and its box and keypoints smoothed within it. Frames outside every
segment get a box interpolated between the nearest segments (held at the ends) and segment -1: no
window is drawn there, but every stage keeps one row per frame, aligned with the audio.

A track row (float32) holds TRACK_COLUMNS: the box corners in source pixels, the detector score,
YuNet's 5 keypoints (right eye, left eye, nose tip, right and left mouth corner), whether the face
was detected in that frame (1) or interpolated (0), and the frame's segment.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd

from unisync_model.extract.faces import YuNetDetector
from unisync_model.extract.stage import run_stage
from unisync_model.extract.track_stream import track_clip
from unisync_model.io.frames import decoder_version
from unisync_model.io.media import MediaError
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.settings import TracksSettings, to_dict


def extract_tracks(clips: pd.DataFrame, out: str | Path, settings: TracksSettings) -> tuple[int, int]:
    detector = YuNetDetector(settings)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    return run_stage(paths, lambda clip_id: track_clip(paths[clip_id], detector, settings), out, "tracks",
                     {"backend": "yunet", "opencv_version": cv2.__version__, "decoder": decoder_version(),
                      "settings": to_dict(settings),
                      "columns": TRACK_COLUMNS},
                     skip_on=(MediaError,))
