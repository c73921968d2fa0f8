"""tdmm stage: the 62 3DMM parameters of 3DDFA_V2 per frame.

Per frame, upstream TDDFA's crop for a face box (`crop_policy='box'`): a square of ROI_SCALE × the box's
mean side, moved down by ROI_SHIFT × that side, resized to 120 × 120, kept BGR, normalised
(x − 127.5) / 128, through the MobileNet regressor (mobilenet_3ddfa), de-normalised with the checkpoint's
statistics: params = out · std + mean. The box is the tracks stage's YuNet box, not upstream's FaceBoxes
box; ROI_SCALE keeps upstream's 1.58, TdmmSettings.roi_scale sets it. Every track row gets its
parameters, frames outside a face segment (segment −1, interpolated box) too, so the shard stays aligned
with the track and the audio; no window is ever drawn there.

Output: per clip (T, 62) float32, one row per track row, in upstream's order and units:
  params[POSE]        0:12   the 3 × 4 affine camera matrix P, row-major (scaled rotation | translation),
                             in the 120 × 120 crop's frame, so it also carries where the face sits in
                             the crop; `pose_angles` turns it into yaw, pitch, roll in degrees
                             (upstream's calc_pose; yaw > 0: the face turns towards the image's left)
  params[SHAPE]      12:52   40 identity coefficients of the BFM shape basis
  params[EXPRESSION] 52:62   10 expression coefficients of the BFM-derived expression basis

Which parameters feed UniSync: the 10 expression coefficients. The mouth motion lives there; pose
describes head motion (no reliable sync) and shape describes identity, which would let the model tell
speakers apart instead of matching lips to sound, the very shortcut its cross-speaker negatives are
there to prevent. De-normalised expression coefficients have different spreads; dividing by the npz's
std (z-scores) puts them on one scale.

Measurements (the YuNet box against upstream's landmark region, which coefficients follow the mouth
opening) and the crop step by step: docs/representations.md#tdmm
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import pandas as pd
import torch

from unisync_model.extract.mobilenet_3ddfa import N_PARAMS, load_mobilenet
from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io.device import pick_device
from unisync_model.io.media import MediaError, crop_decode_size, probe, video_frames
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import SEGMENT
from unisync_model.io.weights import resolve, sha256_of
from unisync_model.settings import TdmmSettings, to_dict

POSE = slice(0, 12)
SHAPE = slice(12, 52)
EXPRESSION = slice(52, 62)
INPUT_SIZE = 120
DECODE_MARGIN = 2.0
ROI_SCALE = 1.58  # upstream's parse_roi_box_from_bbox: side of the region / mean side of the box
ROI_SHIFT = 0.14  # … and its centre moves down by this × the mean side



def roi_boxes(boxes: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """Face boxes (N × ≥4: x1, y1, x2, y2) → upstream's square regions of interest (N × 4, float):
    side int(scale × mean side), centre moved down by ROI_SHIFT × mean side."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, np.shape(boxes)[-1])
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    mean_side = ((x2 - x1) + (y2 - y1)) / 2
    centre_x = (x1 + x2) / 2
    centre_y = (y1 + y2) / 2 + ROI_SHIFT * mean_side
    side = np.trunc(mean_side * scale)  # upstream takes int() of the side
    return np.stack([centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2], axis=1)


def crop_roi(frame: np.ndarray, roi: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The region of interest of one frame at integer corners, black where it leaves the frame,
    resized to size × size (bilinear) — upstream's crop_img + cv2.resize."""
    height, width = frame.shape[:2]
    sx, sy, ex, ey = (int(round(float(v))) for v in roi[:4])
    if ex - sx < 1 or ey - sy < 1:
        return np.zeros((size, size, 3), np.uint8)
    patch = np.zeros((ey - sy, ex - sx, 3), np.uint8)
    fx, fy, tx, ty = max(sx, 0), max(sy, 0), min(ex, width), min(ey, height)
    if tx > fx and ty > fy:
        patch[fy - sy:ty - sy, fx - sx:tx - sx] = frame[fy:ty, fx:tx]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)


def pose_angles(params: np.ndarray) -> np.ndarray:
    """(T, ≥12) parameters → (T, 3) yaw, pitch, roll in degrees, as upstream's calc_pose: the first
    two rows of P normalised (the scale drops out), the third their cross product, then the Euler
    angles of that rotation (yaw = asin R[2,0], pitch = atan2(R[2,1], R[2,2]), roll = atan2(R[1,0],
    R[0,0]); at |R[2,0]| > 0.998 roll is 0 and yaw ±90°)."""
    params = np.asarray(params, np.float64).reshape(-1, np.shape(params)[-1])
    P = params[:, POSE].reshape(-1, 3, 4)
    r1 = P[:, 0, :3] / np.maximum(np.linalg.norm(P[:, 0, :3], axis=1, keepdims=True), 1e-12)
    r2 = P[:, 1, :3] / np.maximum(np.linalg.norm(P[:, 1, :3], axis=1, keepdims=True), 1e-12)
    r3 = np.cross(r1, r2)
    sin_yaw = r3[:, 0]
    yaw = np.arcsin(np.clip(sin_yaw, -1, 1))
    cos_yaw = np.cos(yaw)
    with np.errstate(divide="ignore", invalid="ignore"):  # cos_yaw ≈ 0 only where gimbal lock overrides
        pitch = np.arctan2(r3[:, 1] / cos_yaw, r3[:, 2] / cos_yaw)
        roll = np.arctan2(r2[:, 0] / cos_yaw, r1[:, 0] / cos_yaw)
    up, down = sin_yaw > 0.998, sin_yaw < -0.998  # gimbal lock, as upstream
    yaw[up], roll[up], pitch[up] = np.pi / 2, 0.0, np.arctan2(-r1[up, 1], -r1[up, 2])
    yaw[down], roll[down], pitch[down] = -np.pi / 2, 0.0, np.arctan2(r1[down, 1], r1[down, 2])
    return np.degrees(np.stack([yaw, pitch, roll], axis=1)).astype(np.float32)


class TdmmRegressor:
    """The 3DDFA_V2 regressor with its parameter statistics, on one device."""

    def __init__(self, settings: TdmmSettings, device: torch.device | None = None):
        if settings.backend != "3ddfa_v2":
            raise ValueError(f"unknown tdmm backend {settings.backend!r}; known: '3ddfa_v2'")
        self.settings = settings
        self.weights_path = resolve(settings.weights)
        self.device = device or pick_device()
        self.model = load_mobilenet(self.weights_path, settings.arch).to(self.device)
        with np.load(resolve(settings.mean_std), allow_pickle=False) as stats:
            mean, std = stats["mean"].astype(np.float32).ravel(), stats["std"].astype(np.float32).ravel()
        if mean.shape != (N_PARAMS,) or std.shape != (N_PARAMS,):
            raise ValueError(f"{settings.mean_std}: mean and std must hold {N_PARAMS} values each, "
                             f"got {mean.shape} and {std.shape}")
        self.mean, self.std = mean, std
        self.roi_scale = float(settings.roi_scale)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N × 120 × 120 × 3 uint8 BGR crops → N × 62 float32 de-normalised parameters."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        x = (x.permute(0, 3, 1, 2).float() - 127.5) / 128.0
        with torch.inference_mode():
            out = self.model(x).float().cpu().numpy()
        return out * self.std + self.mean

    def params(self, frames: Iterable[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """Frames (BGR) and one face box per frame (T × ≥4, in the frames' pixels) → T' × 62, T' the
        number of frames given (at most T)."""
        rois = roi_boxes(boxes, self.roi_scale)
        out = [self(np.stack(batch)) for batch in _batches(
            (crop_roi(frame, roi) for frame, roi in zip(frames, rois)), self.settings.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, N_PARAMS), np.float32)


def _batches(items: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for item in items:
        batch.append(item)
        if len(batch) == max(1, size):
            yield batch
            batch = []
    if batch:
        yield batch


def decode_size(boxes: np.ndarray, width: int, height: int, roi_scale: float = ROI_SCALE) -> tuple[int, int]:
    """The smallest decoding size at which every region of interest keeps DECODE_MARGIN × 120 pixels."""
    rois = roi_boxes(boxes, roi_scale)
    return crop_decode_size(width, height, rois[:, 2] - rois[:, 0], DECODE_MARGIN * INPUT_SIZE)


def clip_params(path: str | Path, track: np.ndarray, regressor: TdmmRegressor) -> tuple[np.ndarray, dict]:
    info = probe(path)
    width, height = decode_size(track[:, :4], info.width, info.height, regressor.roi_scale)
    boxes = track[:, :4].astype(np.float64) * np.tile([width / info.width, height / info.height], 2)
    params = regressor.params(video_frames(path, width, height, info=info), boxes)
    if len(params) != len(track):
        raise SkipClip(f"decoded {len(params)} frames, the track has {len(track)}")
    inside = track[:, SEGMENT] >= 0
    angles = pose_angles(params[inside] if inside.any() else params)
    median = np.median(angles, axis=0)
    return params.astype(np.float32), {"decoded_size": [width, height],
                                       "median_yaw_pitch_roll": [round(float(a), 2) for a in median]}


def extract_tdmm(clips: pd.DataFrame, tracks_shard: str | Path, out: str | Path,
                 settings: TdmmSettings) -> tuple[int, int]:
    tracks = ShardReader(tracks_shard)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    regressor = TdmmRegressor(settings)
    attrs = {"backend": settings.backend, "settings": to_dict(settings),
             "weights_sha256": sha256_of(Path(regressor.weights_path)),
             "columns": {"pose": [POSE.start, POSE.stop], "shape": [SHAPE.start, SHAPE.stop],
                         "expression": [EXPRESSION.start, EXPRESSION.stop]}}
    return run_stage(tracks.clip_ids, lambda clip_id: clip_params(paths[clip_id], tracks.read(clip_id), regressor),
                     out, "tdmm", attrs, skip_on=(MediaError,), upstream_skipped=tracks.skipped)


def clip_computer(settings: TdmmSettings, device=None):
    """One clip's 3DMM parameters from its video, the regressor loaded once (the registry's per-clip function)."""
    regressor = TdmmRegressor(settings, device)
    return lambda clip: clip_params(clip.path, clip.track, regressor)[0]
