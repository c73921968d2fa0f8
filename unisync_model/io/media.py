"""Probing and decoding: what a file holds (in-process by io/container_facts.py, PyAV; ffprobe where
PyAV cannot tell), video as 25 fps constant-frame-rate BGR frames (io/frames.py's in-process decode),
audio as 16 kHz mono (io/samples.py's in-process decode).

Every failure is a MediaError whose message is a short reason fit for a manifest or a shard's skip
record ("unreadable: …", "no video stream", "no audio stream", …). ffprobe runs with argv lists (never
a shell) and every file is named by a `file:` URL, so no file name is read as an option, a protocol or a
command.
"""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

# the file names read as videos (a folder corpus, `unisync score FOLDER`)
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".ts")
PROBE_TIMEOUT = 60  # seconds; ffprobe reads headers only


class MediaError(RuntimeError):
    """A file ffmpeg cannot read as the stream we need; the message is the recorded skip reason."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed: after the rotation and the pixel aspect ratio, which video_frames applies
    height: int
    duration: float  # of the container, seconds
    has_audio: bool
    rotation: int  # degrees clockwise that make the picture upright (0, 90, 180, 270)
    codec: str
    fps: float = 0.0  # average frame rate of the source (0 if ffprobe does not know it)
    frames: int | None = None  # frame count the container states, if it states one
    video_seconds: float = 0.0
    audio_seconds: float | None = None  # None when there is no audio stream
    audio_rate: int | None = None
    audio_channels: int | None = None
    audio_codec: str | None = None
    video_stream: int = 0  # index of the video stream in the file (cover pictures are not it)
    # The audio streams (of the audio file, when it is separate): their stream indices in file order, so
    # audio_streams[N] is ffmpeg's `0:a:N`; and N of the default one, which the audio_* facts describe
    audio_streams: tuple[int, ...] = ()
    audio_default: int | None = None  # ffprobe's disposition.default (the first flagged), else 0


def file_url(path: str | Path) -> str:
    """How to name a file to ffmpeg / ffprobe: `file:` stops them from reading "pipe:x.mp4", "concat:…"
    or "-x.mp4" as anything but a file."""
    return "file:" + os.path.abspath(path)




def _reason(stderr: str, path: str | Path) -> str:
    """ffmpeg's complaint, short: without the file name and the `[demuxer @ 0x…]` prefixes."""
    lines: list[str] = []
    for line in stderr.splitlines():
        line = line.replace(file_url(path) + ": ", "").replace(file_url(path), "the file")
        line = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\] ", "", line).strip()
        if line and line not in lines:
            lines.append(line)
    text = "; ".join(lines)
    if "moov atom not found" in text:
        return "truncated or unfinished mp4 (moov atom not found)"
    return (text[:200] + "…" if len(text) > 200 else text) or "ffmpeg failed without a message"


def _ratio(text: str | None) -> float:
    try:
        return float(Fraction(text.replace(":", "/")))
    except (AttributeError, ValueError, ZeroDivisionError):
        return 0.0


def _int(value) -> int | None:
    """A positive count ffprobe may leave out or write as "N/A"."""
    try:
        return int(value) if int(value) > 0 else None
    except (TypeError, ValueError):
        return None


def _seconds(stream: dict, fallback: float) -> float:
    """A stream's duration; Matroska keeps it only as a DURATION tag (HH:MM:SS.fraction)."""
    try:
        return float(stream["duration"])
    except (KeyError, TypeError, ValueError):
        pass
    tag = next((v for k, v in stream.get("tags", {}).items() if k.upper() == "DURATION"), None)
    if tag and re.fullmatch(r"\d+:\d+:\d+(\.\d+)?", tag):
        h, m, s = tag.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return fallback


def _rotation(video: dict) -> int:
    """Clockwise degrees to display upright, as a multiple of 90. ffprobe's display-matrix `rotation`
    is counter-clockwise; the legacy `rotate` tag (Matroska writes ROTATE) is clockwise."""
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return int(round(-float(side["rotation"]) / 90)) * 90 % 360
    tag = next((v for k, v in video.get("tags", {}).items() if k.lower() == "rotate"), "0")
    try:
        return int(round(float(tag) / 90)) * 90 % 360
    except ValueError:
        return 0


def _check_file(path: str | Path) -> None:
    """MediaError for what no reader should open: a missing file, a FIFO or device, an empty file."""
    try:
        st = os.stat(path)  # one call (the manifest checks thousands of files)
    except (FileNotFoundError, NotADirectoryError):
        raise MediaError("file missing") from None
    except OSError as err:
        if err.errno == errno.ELOOP:  # a symlink loop: what Path.exists() says is missing
            raise MediaError("file missing") from None
        raise
    if not stat.S_ISREG(st.st_mode):
        raise MediaError("unreadable: not a regular file")  # a FIFO or a device would block ffmpeg
    if st.st_size == 0:
        raise MediaError("unreadable: empty file")


def _ffprobe(path: str | Path) -> dict:
    _check_file(path)
    cmd = ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", file_url(path)]
    try:
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise MediaError(f"unreadable: ffprobe took more than {PROBE_TIMEOUT} s") from None
    if result.returncode != 0:
        raise MediaError(f"unreadable: {_reason(result.stderr.decode(errors='replace'), path)}")
    return json.loads(result.stdout or b"{}")


IN_PROCESS = True  # False: every file by ffprobe, as before PyAV read them (bench/manifest_speed.py compares)


def _facts(path: str | Path, in_process: bool | None = None) -> dict:
    """ffprobe's JSON of the file (format and streams): read in-process where PyAV can tell, else by
    ffprobe, whose message is then the reason a bad file is skipped with (io/container_facts.py)."""
    _check_file(path)
    if IN_PROCESS if in_process is None else in_process:
        from unisync_model.io import container_facts  # imports PyAV on first use

        facts = container_facts.read(path, timeout=PROBE_TIMEOUT)
        if facts is not None:
            return facts
    return _ffprobe(path)


PROBE_CACHE_SIZE = 256  # files whose facts a process remembers
_probed: "OrderedDict[tuple, VideoInfo]" = OrderedDict()
_probed_lock = threading.Lock()


def _identity(path: str | Path) -> tuple | None:
    """What changes when a file does (its inode, size and modification time), None if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def probe(path: str | Path, audio_path: str | Path | None = None) -> VideoInfo:
    """What the file holds, or MediaError if it holds no video we can decode. The audio facts come
    from `audio_path` when the audio is a separate file; a missing audio stream is not an error here.

    A process remembers the facts of the last PROBE_CACHE_SIZE files it probed, until a file changes:
    scoring a video probes it in three places (the loader, tracks, landmarks), and a probe costs up to
    ~20 ms in-process on 1080p (~0.1 s by ffprobe, where PyAV cannot tell)."""
    key = (_identity(path), None if audio_path is None else _identity(audio_path))
    if key[0] is None or (audio_path is not None and key[1] is None):
        return probe_uncached(path, audio_path)  # missing or unreadable: let the checks give the reason
    with _probed_lock:  # the manifest probes from a thread pool
        if key in _probed:
            _probed.move_to_end(key)
            return _probed[key]
    info = probe_uncached(path, audio_path)
    with _probed_lock:
        _probed[key] = info
        while len(_probed) > PROBE_CACHE_SIZE:
            _probed.popitem(last=False)
    return info


def probe_uncached(path: str | Path, audio_path: str | Path | None = None,
                   in_process: bool | None = None) -> VideoInfo:
    """probe without the cache; `in_process` False reads by ffprobe alone, True with PyAV where it can
    tell, None as IN_PROCESS says (tests/test_probe_in_process.py compares the two)."""
    info = _facts(path, in_process)
    streams = info.get("streams", [])
    # a cover picture (attached_pic) is a video stream of one image, not video
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise MediaError("no video stream")
    width, height = _int(video.get("width")), _int(video.get("height"))
    if not width or not height:
        raise MediaError("unreadable: video stream without a frame size")
    sar = _ratio(video.get("sample_aspect_ratio"))
    if sar > 0 and abs(sar - 1) > 1e-3:  # non-square pixels: show them square
        width = max(1, round(width * sar))
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    duration = _seconds(info.get("format", {}), 0.0)
    if audio_path is not None and os.path.abspath(audio_path) != os.path.abspath(path):
        try:
            streams = _facts(audio_path, in_process).get("streams", [])
        except MediaError as err:
            raise MediaError(f"audio {err}") from None  # "audio file missing", "audio unreadable: …"
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    default = _default_audio(audios)
    audio = audios[default] if audios else None
    a = audio or {}
    return VideoInfo(
        width=width, height=height, duration=duration, has_audio=audio is not None, rotation=rotation,
        codec=video.get("codec_name", "?"),
        fps=_ratio(video.get("avg_frame_rate")) or _ratio(video.get("r_frame_rate")),
        frames=_int(video.get("nb_frames")), video_seconds=_seconds(video, duration),
        audio_seconds=_seconds(audio, duration) if audio else None,
        audio_rate=_int(a.get("sample_rate")), audio_channels=_int(a.get("channels")),
        audio_codec=a.get("codec_name"),
        video_stream=_int(video.get("index")) or 0,
        audio_streams=tuple(int(s.get("index", k)) for k, s in enumerate(audios)),
        audio_default=default if audios else None)


def _default_audio(audios: list[dict]) -> int:
    """N (as in `0:a:N`) of the stream a player would play: the first flagged default, else the first."""
    return next((k for k, s in enumerate(audios) if s.get("disposition", {}).get("default")), 0)


def frame_size(info: VideoInfo, width: int | None = None) -> tuple[int, int]:
    """The size of the frames video_frames(width=...) yields: as displayed, or scaled down to `width`
    with the aspect kept and both sides even (never scaled up)."""
    if width is None or width >= info.width:
        return info.width, info.height
    width = max(2, width - width % 2)
    return width, max(2, round(info.height * width / info.width / 2) * 2)


def crop_decode_size(width: int, height: int, sides: np.ndarray, needed: float) -> tuple[int, int]:
    """The smallest size to decode a width × height video at for cropping: scaled down (the aspect kept,
    never scaled up) so that the smallest of a clip's crop `sides` (source pixels) still spans `needed`
    decoded pixels; the full size for a clip without crops."""
    smallest = float(np.min(sides)) if len(sides) else 0.0
    scale = min(1.0, needed / max(smallest, 1.0))
    return max(1, round(width * scale)), max(1, round(height * scale))


def video_frames(path: str | Path, width: int | None = None, height: int | None = None,
                 info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video as H×W×3 uint8 BGR at 25 fps CFR, upright, with square pixels.

    The fps filter duplicates or drops frames by timestamp, so variable-rate input comes out evenly
    spaced, and it starts at t = 0, so a video that starts after its audio is padded with its first
    frame and stays in sync. Size: `width` alone scales down keeping the aspect (see frame_size);
    `width` and `height` give the exact size. Decoded in-process by io/frames.py (PyAV), the one
    decoder of every stage, scaled by swscale (bicubic, as ffmpeg's scale filter)."""
    from unisync_model.io.frames import decoded_frames  # frames.py builds on this module's probe

    info = info or probe(path)
    width, height = (width, height) if width and height else frame_size(info, width)
    for frame in decoded_frames(path, info):
        yield frame.bgr(width, height)


def audio_samples(path: str | Path, stream: int = 0) -> np.ndarray:
    """Audio stream `stream` (ffmpeg's `0:a:N`: the first by default) as 16 kHz mono float32 in [-1, 1],
    starting at the file's t = 0 (a stream that starts late is padded with silence, so it stays in sync
    with video_frames). Decoded in-process by io/samples.py (PyAV)."""
    from unisync_model.io.samples import decoded_audio  # samples.py builds on this module

    if not Path(path).is_file():
        raise MediaError("file missing" if not Path(path).exists() else "unreadable: not a regular file")
    if Path(path).stat().st_size == 0:
        raise MediaError("unreadable: empty file")
    return decoded_audio(path, stream)


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level of a whole signal, dBFS (−200 for an empty or all-zero one): what choosing a stream and
    scoring call silent."""
    x = np.asarray(samples, np.float64)
    return float(20 * np.log10(np.sqrt((x ** 2).mean()) + 1e-10)) if len(x) else -200.0


class SpeechAudio(NamedTuple):
    samples: np.ndarray  # 16 kHz mono float32, as audio_samples gives
    stream: int  # N of the stream decoded (ffmpeg's `0:a:N`: 0 is the first audio stream of the file)
    tried: tuple[int, ...]  # N of every stream decoded, in the order tried (the last failing ones included)


def _audio_streams(path: str | Path, info: VideoInfo | None) -> tuple[tuple[int, ...], int]:
    """(stream indices of the audio streams, N of the default) from `info` or the file's facts (which,
    unlike probe, also read audio-only files such as a corpus's .wav)."""
    if info is not None:
        return info.audio_streams, info.audio_default or 0
    audios = [s for s in _facts(path).get("streams", []) if s.get("codec_type") == "audio"]
    return tuple(int(s.get("index", k)) for k, s in enumerate(audios)), _default_audio(audios)


def speech_audio(path: str | Path, stream: int | None = None, silence_dbfs: float = -55.0,
                 info: VideoInfo | None = None) -> SpeechAudio:
    """The audio to score or train on, for files whose default audio stream may be silent while another
    holds the speech (issue 12). `stream` N (ffmpeg's `0:a:N`, 0-based among the audio streams) decodes
    exactly that one; None decodes the default stream, then, while the result is silent (RMS below
    `silence_dbfs`) or fails to decode, the others in file order, and returns the first that is not
    silent; when all are silent, the default's samples (the first decodable stream's if the default
    failed), so the caller reports silent audio. `info`: probe's facts of `path`, saving an ffprobe run.
    MediaError: no audio stream, no stream N (naming those there are), or no stream decodes."""
    if not Path(path).is_file():
        raise MediaError("file missing" if not Path(path).exists() else "unreadable: not a regular file")
    indices, default = _audio_streams(path, info)
    if not indices:
        raise MediaError("no audio stream")
    if stream is not None:
        if not 0 <= stream < len(indices):
            listing = ", ".join(f"{n} (stream #{i}{', default' if n == default else ''})"
                                for n, i in enumerate(indices))
            raise MediaError(f"no audio stream {stream}: the file has {len(indices)} audio "
                             f"stream{'s' if len(indices) > 1 else ''}: {listing}")
        return SpeechAudio(audio_samples(path, stream), stream, (stream,))
    order = [default] + [n for n in range(len(indices)) if n != default]
    tried: list[int] = []
    fallback: tuple[np.ndarray, int] | None = None  # the stream returned when all are silent
    first_error: MediaError | None = None
    for n in order:
        tried.append(n)
        try:
            samples = audio_samples(path, n)
        except MediaError as err:
            first_error = first_error or err
            continue
        if level_dbfs(samples) >= silence_dbfs:
            return SpeechAudio(samples, n, tuple(tried))
        fallback = fallback or (samples, n)
    if fallback is None:
        raise first_error
    return SpeechAudio(fallback[0], fallback[1], tuple(tried))


def run(cmd: list[str]) -> None:
    """Run a command, raising with its stderr on failure (used for writing media)."""
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise MediaError(f"{cmd[0]} failed: {result.stderr.strip()[-500:]}")
