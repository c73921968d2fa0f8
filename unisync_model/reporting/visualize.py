"""Pictures of what every extractor made of one clip, for a person to check them at a glance.

Per frame, side by side: the frame with the face box, YuNet's keypoints and the 68 landmarks, then
each visual representation's panel (the registry's `panel`: the mouth crop, the parsing map in
colour, the 3DMM head pose as axes). A PNG shows
a few evenly spaced frames, one row each; an MP4 shows every frame, with the clip's audio.
Stages that were not run are left out.
"""
from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from unisync_model import representations
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.media import file_url, probe, video_frames
from unisync_model.io.shards import ShardReader
from unisync_model.io.track_array import SEGMENT
from unisync_model.representations import VISUAL

log = logging.getLogger(__name__)
PANEL = 192  # pixels: every panel is PANEL high
# A colour per face-parsing class (facexlib's 19-class layout), BGR.
PARSING_COLOURS = np.array([
    [0, 0, 0], [128, 178, 255], [0, 85, 170], [0, 85, 170], [255, 255, 255], [255, 255, 255], [180, 180, 0],
    [90, 160, 200], [90, 160, 200], [0, 255, 255], [0, 200, 120], [40, 0, 120], [60, 60, 255], [0, 0, 200],
    [150, 150, 150], [200, 200, 200], [120, 60, 0], [30, 60, 90], [255, 0, 255]], np.uint8)


def clip_arrays(results: Path, clip_id: str) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """The manifest row of a clip and every per-frame array the stages wrote for it."""
    clips = pd.read_parquet(results / "clips.parquet")
    rows = clips[clips["clip_id"] == clip_id]
    if rows.empty:
        raise KeyError(f"{clip_id!r} is not in {results / 'clips.parquet'}")
    row = rows.iloc[0]
    arrays = {}
    for stage in ("tracks", *representations.names(VISUAL)):
        path = results / "shards" / stage / f"{row['shard']}.h5"
        if path.is_file():
            reader = ShardReader(path)
            if clip_id in reader:
                arrays[stage] = reader.read(clip_id)
            else:
                reason = next((s["reason"] for s in reader.skipped if s["clip_id"] == clip_id), "not in the shard")
                log.warning("%s: %s", stage, reason)
    if "tracks" not in arrays:
        raise ValueError(f"{clip_id}: no face track (see the report for why)")
    return row, arrays


def fit(image: np.ndarray, height: int = PANEL) -> np.ndarray:
    scale = height / image.shape[0]
    interpolation = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    return cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=interpolation)


def frame_panel(frame: np.ndarray, track: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    out = frame.copy()
    x1, y1, x2, y2 = (int(round(v)) for v in track[:4])
    in_segment = track[SEGMENT] >= 0
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0) if in_segment else (0, 0, 255), 2)
    for k in range(5):
        x, y = track[5 + 2 * k], track[6 + 2 * k]
        cv2.circle(out, (int(x), int(y)), 3, (0, 255, 255), -1)
    if landmarks is not None:
        for x, y in landmarks:
            cv2.circle(out, (int(x), int(y)), 2, (255, 0, 255), -1)
    # the face's neighbourhood at a fixed size, so small faces in big frames can be seen
    side = 2.0 * max(x2 - x1, y2 - y1, 8)
    scale = PANEL / side
    matrix = np.array([[scale, 0, PANEL / 2 - scale * (x1 + x2) / 2],
                       [0, scale, PANEL / 2 - scale * (y1 + y2) / 2]], np.float32)
    return cv2.warpAffine(out, matrix, (PANEL, PANEL), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def rgb_panel(track: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """The mouth crop (RGB in the shard)."""
    return fit(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))


def parsing_panel(track: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The parsing map, a colour per class."""
    return fit(PARSING_COLOURS[np.clip(classes, 0, len(PARSING_COLOURS) - 1)])


def tdmm_panel(track: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Head pose axes (x red, y green, z blue) from the 3DMM, with yaw / pitch / roll in degrees."""
    from unisync_model.extract.tdmm import pose_angles
    yaw, pitch, roll = pose_angles(params[None])[0]
    panel = np.full((PANEL, PANEL, 3), 32, np.uint8)
    r = np.deg2rad([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(r[0]), -np.sin(r[0])], [0, np.sin(r[0]), np.cos(r[0])]])
    ry = np.array([[np.cos(r[1]), 0, np.sin(r[1])], [0, 1, 0], [-np.sin(r[1]), 0, np.cos(r[1])]])
    rz = np.array([[np.cos(r[2]), -np.sin(r[2]), 0], [np.sin(r[2]), np.cos(r[2]), 0], [0, 0, 1]])
    axes = (rz @ ry @ rx) * 60
    centre = np.array([PANEL / 2, PANEL / 2])
    for k, colour in enumerate(((0, 0, 255), (0, 255, 0), (255, 0, 0))):
        tip = centre + axes[:2, k] * np.array([1, -1])
        cv2.arrowedLine(panel, tuple(int(v) for v in centre), tuple(int(v) for v in tip), colour, 2)
    cv2.putText(panel, f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}", (4, PANEL - 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return panel


def panel_functions(arrays: dict[str, np.ndarray]) -> dict[str, Callable]:
    """Each visual representation's own panel (the registry's `panel`) for the arrays there are, loaded once."""
    return {name: representations.load(representations.get(name).panel) for name in representations.names(VISUAL)
            if representations.get(name).panel is not None and name in arrays}


def compose(t: int, frame: np.ndarray, arrays: dict[str, np.ndarray], panel_of: dict[str, Callable]) -> np.ndarray:
    track = arrays["tracks"][t]
    panels = [frame_panel(frame, track, arrays["landmarks"][t] if "landmarks" in arrays else None)]
    panels += [draw(track, arrays[name][t]) for name, draw in panel_of.items()]
    row = np.concatenate(panels, axis=1)
    cv2.putText(row, f"frame {t}" + ("" if track[SEGMENT] >= 0 else " (outside the face segments)"), (4, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return row


def visualize(results: str | Path, clip_id: str, out_dir: str | Path, rows: int = 6) -> tuple[Path, Path]:
    """Write <out_dir>/<safe clip id>.png (a few frames) and .mp4 (every frame, with the audio)."""
    from unisync_model.reporting.contact_sheets import safe_name
    results, out_dir = Path(results), Path(out_dir)
    row, arrays = clip_arrays(results, clip_id)
    info = probe(row["path"])
    picks = set(np.linspace(0, len(arrays["tracks"]) - 1, rows).round().astype(int).tolist())
    out_dir.mkdir(parents=True, exist_ok=True)
    name = safe_name(clip_id)
    png, mp4 = out_dir / f"{name}.png", out_dir / f"{name}.mp4"
    panel_of = panel_functions(arrays)
    sheet = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "frames.bgr"
        size = None
        with open(raw, "wb") as frames_out:
            for t, frame in enumerate(video_frames(row["path"], info=info)):
                if t >= len(arrays["tracks"]):
                    break
                composed = compose(t, frame, arrays, panel_of)
                composed = composed[:, : composed.shape[1] - composed.shape[1] % 2]  # even size for h264
                size = size or composed.shape[1::-1]
                frames_out.write(np.ascontiguousarray(composed).tobytes())
                if t in picks:
                    sheet.append(composed)
        _, encoded = cv2.imencode(".png", np.concatenate(sheet, axis=0))
        write_atomic(png, encoded.tobytes())
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{size[0]}x{size[1]}", "-r", "25", "-i", str(raw), "-i", file_url(row["audio_path"]),
               "-map", "0:v", "-map", "1:a:0?", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
        # ffmpeg picks the muxer by the suffix: the temporary file keeps it
        write_atomic(mp4, lambda out: subprocess.run([*cmd, str(out)], check=True, capture_output=True),
                     keep_suffix=True)
    log.info("%s: %s and %s", clip_id, png, mp4)
    return png, mp4

