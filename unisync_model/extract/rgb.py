"""rgb stage: the lower half of a square face crop per frame (Wav2Lip's expert sees the same), as
uint8 RGB, face_size/2 × face_size × 3."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.media import MediaError, video_frames
from unisync_model.settings import RgbSettings, to_dict
from unisync_model.shards import ShardReader


def crop_lower_face(frame: np.ndarray, box: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """One BGR frame and its face box (x1, y1, x2, y2) → the lower half of the square crop, RGB.
    The crop is an affine warp, so a box reaching past the frame edge replicates the border."""
    x1, y1, x2, y2 = box
    side = settings.box_scale * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = settings.face_size / side
    matrix = np.array([[scale, 0, settings.face_size / 2 - scale * cx],
                       [0, scale, settings.face_size / 2 - scale * cy]], np.float32)
    face = cv2.warpAffine(frame, matrix, (settings.face_size, settings.face_size),
                          flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(face[settings.face_size // 2:], cv2.COLOR_BGR2RGB)


def crop_clip(path: str | Path, track: np.ndarray, settings: RgbSettings) -> np.ndarray:
    crops = [crop_lower_face(frame, track[t, :4], settings)
             for t, frame in zip(range(len(track)), video_frames(path))]
    if len(crops) != len(track):
        raise SkipClip(f"decoded {len(crops)} frames, the track has {len(track)}")
    return np.stack(crops)


def extract_rgb(clips: pd.DataFrame, tracks_shard: str | Path, out: str | Path, settings: RgbSettings) -> tuple[int, int]:
    tracks = ShardReader(tracks_shard)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    return run_stage(tracks.clip_ids, lambda clip_id: crop_clip(paths[clip_id], tracks.read(clip_id), settings),
                     out, "rgb", {"backend": "opencv", "settings": to_dict(settings)},
                     skip_on=(MediaError,), upstream_skipped=tracks.skipped)
