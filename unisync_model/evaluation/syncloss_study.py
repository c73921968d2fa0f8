"""Paper Table VI in miniature: test clips drawn by talking-mouth generators trained with and without
SyncLoss, judged by a UniSync expert and (through the CLI, which owns the scorers) by the training-free
scorer on videos of the generated mouths (docs/syncloss.md).

For every face segment of the split's clips, each generator (training/mouth_generator.py) draws the
segment's lower faces window by window (5 frames at a time from a reference frame half the segment
away and the window's Mel frames; the last window overlaps the one before it), quantised to uint8 like
a video frame. Arms: one per generator, and `real` (the shards' own crops, the ceiling).

- **The judge** (a UniSync checkpoint; independent of the loss's expert when it is another seed or
  another visual representation) embeds every window of the segment and gives syncnet_python's
  whole-track numbers on its own scale (model/lse.py: distances of L2-normalised embeddings,
  sqrt(2 − 2 p_sync), not SyncNet's): AV offset (in sync when |offset| ≤ 1), LSE-D, LSE-C, and the
  mean p_sync of the synced windows.
- **Videos for the training-free scorer**: each generated lower face is pasted back into the clip's
  frames through the inverse of the rgb stage's crop (`extract.rgb.crop_matrix` with the rgb shard's
  own settings), with the clip's audio copied; `real`'s videos are the clips themselves.
- **L1**: the mean absolute difference to the real crops, pixels in [0, 1].

`summarise` gives one row per arm; `write_table` writes table.md, table.csv and clips.csv.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from unisync_model.corpora.manifest import read_manifest
from unisync_model.extract.rgb import crop_matrix
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.av_timing import audio_features
from unisync_model.io.media import file_url, probe, video_frames
from unisync_model.io.progress import progress
from unisync_model.io.shards import ShardReader
from unisync_model.model.checkpoint import load_model
from unisync_model.model.embed import embed_windows
from unisync_model.model.lse import TOLERANCE, VSHIFT, syncnet_lse
from unisync_model.settings import WINDOW_FRAMES, RgbSettings, from_dict
from unisync_model.training.mouth_generator import (MouthGenerator, Segment, load_generator, load_segments,
                                                    mel_window, reference_frame)

REAL = "real"
CLIP_COLUMNS = ["arm", "clip_id", "speaker", "first_frame", "windows", "l1", "judge_offset", "judge_in_sync",
                "judge_lse_d", "judge_lse_c", "judge_p_sync", "video"]


@torch.no_grad()
def generate_segment(generator: MouthGenerator, segment: Segment, batch_size: int = 32) -> np.ndarray:
    """The segment's lower faces drawn by the generator, frames first … stop − 1, uint8 (stop − first) × 48 × 96 × 3."""
    first, stop = segment.first, segment.stop
    starts = list(range(first, stop - WINDOW_FRAMES + 1, WINDOW_FRAMES))
    if starts[-1] + WINDOW_FRAMES < stop:
        starts.append(stop - WINDOW_FRAMES)  # the tail: a window overlapping the one before
    out = np.empty((stop - first, *segment.frames.shape[1:]), np.uint8)
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        reference = torch.from_numpy(np.stack([segment.frames[reference_frame(s, first, stop)] for s in chunk]))
        mel = torch.from_numpy(np.stack([mel_window(segment, s) for s in chunk]))
        faces = (generator(reference, mel) * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        for s, window in zip(chunk, faces):
            out[s - first:s - first + WINDOW_FRAMES] = window
    return out


def judge_segment(judge, frames: np.ndarray, segment: Segment, batch_size: int = 256) -> dict:
    """The judge's whole-track numbers for the segment's windows drawn as `frames` (from segment.first on)."""
    mel_start, _, _ = audio_features("mel")
    visual, audio = embed_windows(judge, frames, segment.mel[mel_start(segment.first):], segment.first,
                                  segment.windows, "mel", batch_size)
    lse = syncnet_lse(visual, audio, VSHIFT, normalise=True)
    return {"judge_offset": lse.offset, "judge_in_sync": float(abs(lse.offset) <= TOLERANCE),
            "judge_lse_d": lse.min_dist, "judge_lse_c": lse.confidence,
            "judge_p_sync": float(F.cosine_similarity(visual, audio, dim=1).mean())}


def paste_lower_faces(frame: np.ndarray, track_row: np.ndarray, lower_face: np.ndarray,
                      settings: RgbSettings) -> np.ndarray:
    """A BGR frame with the lower half of its face crop replaced by `lower_face` (RGB, as the rgb shards
    hold it): the crop (its upper half from the frame, so that the edges blend into the frame's own
    pixels) mapped back by the crop's inverse affine map, blended by the warped half-square's coverage."""
    size = settings.face_size
    matrix = crop_matrix(track_row, settings)
    inverse = cv2.invertAffineTransform(matrix)
    height, width = frame.shape[:2]
    face = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    face[size // 2:] = cv2.cvtColor(lower_face, cv2.COLOR_RGB2BGR)
    mask = np.zeros((size, size), np.float32)
    mask[size // 2:] = 1.0
    pasted = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    coverage = cv2.warpAffine(mask, inverse, (width, height), flags=cv2.INTER_LINEAR)[..., None]
    return (coverage * pasted + (1.0 - coverage) * frame).round().astype(np.uint8)


def write_video(source: str | Path, track: np.ndarray, drawn: dict[int, np.ndarray], out: str | Path,
                settings: RgbSettings) -> None:
    """`source`'s frames (25 fps, as every stage decodes them) with the lower faces of `drawn` (frame →
    48 × 96 × 3 RGB) pasted in, H.264, and `source`'s first audio stream copied."""
    info = probe(source)
    frames = []
    for t, frame in enumerate(video_frames(source, info=info)):
        if t in drawn:
            frame = paste_lower_faces(frame, track[t], drawn[t], settings)
        frames.append(frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2])  # even sides for yuv420p
    height, width = frames[0].shape[:2]
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{width}x{height}", "-r", "25", "-i", "pipe:0", "-i", file_url(source),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
               "-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "copy"]
    data = np.stack(frames).tobytes()
    write_atomic(out, lambda tmp: subprocess.run([*command, str(tmp)], input=data, check=True, capture_output=True),
                 keep_suffix=True)


def _video_name(clip_id: str) -> str:
    return clip_id.replace("/", "_") + ".mp4"


def run_study(generators: dict[str, str | Path], judge_path: str | Path, manifest: str | Path,
              shards_dir: str | Path, shards: list[str], out_dir: str | Path, split: str = "test",
              videos: bool = True) -> pd.DataFrame:
    """Every segment of the split drawn by every generator (arm name → checkpoint) and judged, with the
    videos written under out_dir/videos/<arm>/ (`videos`); one row per arm and segment (CLIP_COLUMNS;
    `video`: what the training-free scorer should score for that arm and clip)."""
    if REAL in generators:
        raise ValueError(f"{REAL!r} names the real crops; call the generators otherwise")
    judge = load_model(judge_path, torch.device("cpu"))
    segments = load_segments(manifest, shards_dir, shards, split)
    clips = read_manifest(manifest).set_index("clip_id")
    tracks = {s: ShardReader(Path(shards_dir) / "tracks" / f"{s}.h5") for s in shards}
    rgb = ShardReader(Path(shards_dir) / "rgb" / f"{shards[0]}.h5")
    rgb_settings = from_dict(RgbSettings, json.loads(rgb.attrs.get("settings", "{}")))
    models = {arm: load_generator(path)[0] for arm, path in generators.items()}
    rows, drawn = [], {arm: {} for arm in models}
    for seg in progress(segments, desc="syncloss study", unit="segment"):
        real = seg.frames[seg.first:seg.stop]
        base = {"clip_id": seg.clip_id, "speaker": seg.speaker, "first_frame": seg.first, "windows": seg.windows}
        rows.append({"arm": REAL, **base, "l1": 0.0, **judge_segment(judge, real, seg),
                     "video": str(clips.loc[seg.clip_id, "path"])})
        for arm, generator in models.items():
            frames = generate_segment(generator, seg)
            drawn[arm].setdefault(seg.clip_id, {}).update({seg.first + k: f for k, f in enumerate(frames)})
            l1 = float(np.abs(frames.astype(np.float32) - real.astype(np.float32)).mean() / 255.0)
            rows.append({"arm": arm, **base, "l1": l1, **judge_segment(judge, frames, seg),
                         "video": str(Path(out_dir) / "videos" / arm / _video_name(seg.clip_id)) if videos else ""})
    if videos:
        for arm, by_clip in drawn.items():
            for clip_id, frames in progress(list(by_clip.items()), desc=f"videos ({arm})", unit="video"):
                shard = str(clips.loc[clip_id, "shard"])
                write_video(clips.loc[clip_id, "path"], tracks[shard].read(clip_id), frames,
                            Path(out_dir) / "videos" / arm / _video_name(clip_id), rgb_settings)
    return pd.DataFrame(rows, columns=CLIP_COLUMNS)


def _path_key(path: str) -> str:
    return os.path.abspath(path) if path else ""


SCORER_COLUMNS = ["video", "status", "offset_frames", "confidence", "verdict"]


def summarise(clip_rows: pd.DataFrame, scored: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per arm (in the order they come): segments, L1, the judge's in-sync share, mean |offset|,
    LSE-D, LSE-C and p_sync; with `scored` (the training-free scorer's rows of the arms' videos:
    SCORER_COLUMNS), its scored videos, in-sync share (|offset| ≤ 1 among the scored), the share it
    calls "in sync" (confident too), mean confidence and mean |offset|."""
    rows = clip_rows.assign(key=clip_rows["video"].map(_path_key))
    if scored is not None:
        scored = scored[SCORER_COLUMNS].rename(columns=lambda c: f"tf_{c}").assign(key=scored["video"].map(_path_key))
        rows = rows.merge(scored.drop(columns="tf_video"), on="key", how="left")
    out = []
    for arm, group in rows.groupby("arm", sort=False):
        row = {"arm": arm, "segments": len(group), "l1": group["l1"].mean(),
               "judge_in_sync": group["judge_in_sync"].mean(),
               "judge_abs_offset": group["judge_offset"].abs().mean(),
               "judge_lse_d": group["judge_lse_d"].mean(), "judge_lse_c": group["judge_lse_c"].mean(),
               "judge_p_sync": group["judge_p_sync"].mean()}
        if scored is not None:
            ok = group[group["tf_status"] == "ok"].drop_duplicates("key")
            offsets = ok["tf_offset_frames"].astype(float)
            row.update({"tf_scored": len(ok),
                        "tf_in_sync": float((offsets.abs() <= TOLERANCE).mean()) if len(ok) else np.nan,
                        "tf_verdict_in_sync": float((ok["tf_verdict"] == "in sync").mean()) if len(ok) else np.nan,
                        "tf_confidence": ok["tf_confidence"].astype(float).mean(),
                        "tf_abs_offset": offsets.abs().mean()})
        out.append(row)
    return pd.DataFrame(out)


COLUMN_NOTES = {
    "segments": "face segments of the split (the demo: one per clip)",
    "l1": "mean |generated − real| of the lower-face crops, pixels in [0, 1]",
    "judge_in_sync": "share of segments whose whole-track AV offset (judge, shifts ±15) is within ±1 frame",
    "judge_abs_offset": "mean |AV offset| in frames (judge)",
    "judge_lse_d": "LSE-D on the judge's scale (distance of L2-normalised embeddings, lower is better)",
    "judge_lse_c": "LSE-C on the judge's scale (median − minimum of the distance curve, higher is better)",
    "judge_p_sync": "mean p_sync of the synced windows (judge)",
    "tf_scored": "videos the training-free scorer scored",
    "tf_in_sync": "share of them with |offset| ≤ 1 (training-free scorer)",
    "tf_verdict_in_sync": "share it calls 'in sync' (|offset| ≤ 1 and confidence ≥ its uncertain_below)",
    "tf_confidence": "mean confidence (training-free scorer; its own 0–2 scale)",
    "tf_abs_offset": "mean |offset| in frames (training-free scorer)",
}


def table_markdown(table: pd.DataFrame, title: str = "") -> str:
    lines = [f"## {title}", ""] if title else []
    lines.append(table.to_markdown(index=False, floatfmt=".3f"))
    lines += ["", *[f"- `{c}`: {COLUMN_NOTES[c]}" for c in table.columns if c in COLUMN_NOTES]]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, clip_rows: pd.DataFrame, out_dir: str | Path, title: str = "",
                notes: dict | None = None) -> None:
    """table.md (with the column notes and `notes`, e.g. the checkpoints), table.csv, clips.csv."""
    out_dir = Path(out_dir)
    text = table_markdown(table, title)
    if notes:
        text += "\n" + "\n".join(f"- {k}: {v}" for k, v in notes.items()) + "\n"
    write_atomic(out_dir / "table.md", text)
    write_atomic(out_dir / "table.csv", table.to_csv(index=False))
    write_atomic(out_dir / "clips.csv", clip_rows.to_csv(index=False))
