"""rgb stage: the lower half of a square face crop per frame (Wav2Lip's expert sees the same), as
uint8 RGB, face_size/2 × face_size × 3.

Large video is decoded at a reduced size (scaled by swscale) when even the smallest face crop
stays at least DECODE_MARGIN times the crop size: the crop is resampled with area averaging either
way, so the result is the same to the eye at a fraction of the decoding and copying."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io.media import MediaError, crop_decode_size, probe, video_frames
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.settings import RgbSettings, to_dict

DECODE_MARGIN = 2.0


X_COORDS = [TRACK_COLUMNS.index(c) for c in ("x1", "x2", "reye_x", "leye_x", "nose_x", "rmouth_x", "lmouth_x")]
Y_COORDS = [TRACK_COLUMNS.index(c) for c in ("y1", "y2", "reye_y", "leye_y", "nose_y", "rmouth_y", "lmouth_y")]
MOUTH_X = [TRACK_COLUMNS.index("rmouth_x"), TRACK_COLUMNS.index("lmouth_x")]


def crop_matrix(face: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """The 2 × 3 affine map from frame pixels to the face_size × face_size face crop of one track row
    (TRACK_COLUMNS): a square of box_scale × the box's larger side, centred vertically on the box and
    horizontally on the mouth (the midpoint of the mouth corners), so a turned head keeps its mouth
    in the middle of the crop."""
    x1, y1, x2, y2 = (float(v) for v in face[:4])
    side = settings.box_scale * max(x2 - x1, y2 - y1, 1e-3)
    scale = settings.face_size / side
    centre_x = float(np.mean(face[MOUTH_X]))
    return np.array([[scale, 0, settings.face_size / 2 - scale * centre_x],
                     [0, scale, settings.face_size / 2 - scale * (y1 + y2) / 2]], np.float32)


def crop_lower_face(frame: np.ndarray, face: np.ndarray, settings: RgbSettings) -> np.ndarray:
    """One BGR frame and its track row → the lower half of the square crop, RGB. The crop is an
    affine warp, so a box reaching past the frame edge replicates the border."""
    matrix = crop_matrix(face, settings)
    face = cv2.warpAffine(frame, matrix, (settings.face_size, settings.face_size),
                          flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(face[settings.face_size // 2:], cv2.COLOR_BGR2RGB)


def decode_size(track: np.ndarray, width: int, height: int, settings: RgbSettings) -> tuple[int, int]:
    """The smallest decoding size at which every crop of the clip keeps DECODE_MARGIN × face_size pixels."""
    sides = settings.box_scale * np.maximum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    return crop_decode_size(width, height, sides, DECODE_MARGIN * settings.face_size)


def crop_clip(path: str | Path, track: np.ndarray, settings: RgbSettings) -> np.ndarray:
    info = probe(path)
    width, height = decode_size(track, info.width, info.height, settings)
    faces = track.copy()  # in decoded pixels
    faces[:, X_COORDS] *= width / info.width
    faces[:, Y_COORDS] *= height / info.height
    crops = [crop_lower_face(frame, faces[t], settings)
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


def clip_computer(settings: RgbSettings, device=None):
    """One clip's mouth crops from its video (the registry's per-clip function, for scoring)."""
    return lambda clip: crop_clip(clip.path, clip.track, settings)
