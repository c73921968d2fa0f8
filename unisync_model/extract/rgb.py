"""rgb stage: the lower half of a square face crop per frame (Wav2Lip's expert sees the same), as
uint8 RGB, face_size/2 × face_size × 3.

Large video is decoded at a reduced size (by ffmpeg) when even the smallest face crop of the clip
stays at least DECODE_MARGIN times the crop size: the crop is resampled with area averaging either
way, so the result is the same to the eye at a fraction of the decoding and copying."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.media import MediaError, probe, video_frames
from unisync_model.settings import RgbSettings, to_dict
from unisync_model.shards import ShardReader

DECODE_MARGIN = 2.0


def crop_matrix(box: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """The 2 × 3 affine map from frame pixels to the face_size × face_size face crop of a box
    (x1, y1, x2, y2): a square of box_scale × the box's larger side, centred on the box."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = settings.box_scale * max(x2 - x1, y2 - y1, 1e-3)
    scale = settings.face_size / side
    return np.array([[scale, 0, settings.face_size / 2 - scale * (x1 + x2) / 2],
                     [0, scale, settings.face_size / 2 - scale * (y1 + y2) / 2]], np.float32)


def crop_lower_face(frame: np.ndarray, box: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """One BGR frame and its face box → the lower half of the square crop, RGB. The crop is an
    affine warp, so a box reaching past the frame edge replicates the border."""
    matrix = crop_matrix(box, settings)
    face = cv2.warpAffine(frame, matrix, (settings.face_size, settings.face_size),
                          flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(face[settings.face_size // 2:], cv2.COLOR_BGR2RGB)


def decode_size(track: np.ndarray, width: int, height: int, settings: RgbSettings) -> tuple[int, int]:
    """The smallest decoding size at which every crop of the clip keeps DECODE_MARGIN × face_size pixels."""
    sides = settings.box_scale * np.maximum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    scale = min(1.0, DECODE_MARGIN * settings.face_size / max(float(sides.min()), 1.0))
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop_clip(path: str | Path, track: np.ndarray, settings: RgbSettings) -> np.ndarray:
    info = probe(path)
    width, height = decode_size(track, info.width, info.height, settings)
    boxes = track[:, :4] * np.array([width / info.width, height / info.height] * 2, np.float32)
    crops = [crop_lower_face(frame, boxes[t], settings)
             for t, frame in zip(range(len(track)), video_frames(path, width, height, info=info))]
    if len(crops) != len(track):
        raise SkipClip(f"decoded {len(crops)} frames, the track has {len(track)}")
    return np.stack(crops)


def extract_rgb(clips: pd.DataFrame, tracks_shard: str | Path, out: str | Path, settings: RgbSettings) -> tuple[int, int]:
    tracks = ShardReader(tracks_shard)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    return run_stage(tracks.clip_ids, lambda clip_id: crop_clip(paths[clip_id], tracks.read(clip_id), settings),
                     out, "rgb", {"backend": "opencv", "settings": to_dict(settings)},
                     skip_on=(MediaError,), upstream_skipped=tracks.skipped)
