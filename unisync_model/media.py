"""Decoding through ffmpeg: video to 25 fps constant-frame-rate BGR frames, audio to 16 kHz mono."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from unisync_model.settings import FPS, SAMPLE_RATE


class MediaError(RuntimeError):
    """A file ffmpeg cannot read as the stream we need; the message is the recorded skip reason."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed: after the rotation in the file's metadata, which ffmpeg applies
    height: int
    duration: float
    has_audio: bool
    rotation: int  # degrees, from the display matrix or the legacy `rotate` tag
    codec: str


def _rotation(video: dict) -> int:
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    return int(video.get("tags", {}).get("rotate", 0)) % 360


def probe(path: str | Path) -> VideoInfo:
    if not Path(path).is_file():
        raise MediaError("file missing")
    if Path(path).stat().st_size == 0:
        raise MediaError("unreadable: empty file")
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as err:
        last = (err.stderr.decode(errors="replace").strip().splitlines() or ["ffprobe failed"])[-1]
        raise MediaError(f"unreadable: {last}") from err
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise MediaError("no video stream")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError("unreadable: video stream without a frame size")
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0.0)
    return VideoInfo(width, height, duration, any(s.get("codec_type") == "audio" for s in streams), rotation,
                     video.get("codec_name", "?"))


def video_frames(path: str | Path, width: int | None = None, height: int | None = None,
                 info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video as H×W×3 uint8 BGR, resampled to 25 fps CFR (ffmpeg's fps filter
    duplicates or drops frames by timestamp, so variable-rate input comes out evenly spaced), upright
    (ffmpeg applies the rotation metadata), optionally scaled to width × height by ffmpeg."""
    info = info or probe(path)
    width = width or info.width
    height = height or info.height
    stream = ffmpeg.input(str(path)).video.filter("fps", fps=FPS)
    if (width, height) != (info.width, info.height):
        stream = stream.filter("scale", width, height)
    process = (stream.output("pipe:", format="rawvideo", pix_fmt="bgr24")
               .global_args("-nostdin", "-loglevel", "error")
               .run_async(pipe_stdout=True, pipe_stderr=True))
    frame_bytes = width * height * 3
    try:
        while True:
            buf = process.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        if process.wait() != 0:
            raise MediaError(f"video decoding failed: {stderr.strip()[-300:]}")


def audio_samples(path: str | Path) -> np.ndarray:
    """The first audio stream as 16 kHz mono float32 in [-1, 1]."""
    try:
        out, _ = (ffmpeg.input(str(path)).audio
                  .output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
                  .global_args("-nostdin", "-loglevel", "error")
                  .run(capture_stdout=True, capture_stderr=True))
    except ffmpeg.Error as err:
        message = err.stderr.decode(errors="replace").strip()
        if "does not contain any stream" in message or "matches no streams" in message:
            raise MediaError("no audio stream") from err
        raise MediaError(f"audio decoding failed: {message[-300:]}") from err
    if not out:
        raise MediaError("no audio samples")
    return np.frombuffer(out, np.int16).astype(np.float32) / 32768.0


def run(cmd: list[str]) -> None:
    """Run a command, raising with its stderr on failure (used for writing media)."""
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise MediaError(f"{cmd[0]} failed: {result.stderr.strip()[-500:]}")
