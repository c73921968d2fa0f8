"""What a media file holds, read in-process with PyAV, in the shape of ffprobe's JSON (the keys
media.probe reads, numbers printed as ffprobe prints them), so one reading in media.py serves both and
tests/test_probe_in_process.py compares them fact by fact.

Why: an ffprobe subprocess costs ~85 ms of CPU per file; opening the container here ~0.5 ms for an
LRS2 clip, ~3 ms on average over the shared clips (1080p up to ~20 ms: libavformat decodes a few frames
to learn the stream parameters, as ffprobe does).

Rotation: PyAV shows a display matrix on decoded frames only (PyAV-Org/PyAV#1570 dropped stream side data),
so one key frame is decoded, its pixels unused. Measured (CPU, one thread): +0.1-0.3 ms per LRS2 clip,
+2-3 ms per file over the shared clips (their 1080p key frames), against ~85 ms for asking ffprobe;
kept because the manifest's rows give the displayed size and the rotation.

`read` returns None where PyAV cannot tell (the file does not open, a stream has no decoder here, no
key frame decodes): media.py then asks ffprobe, whose message is the reason a bad file is skipped with.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

AV_TIME_BASE = Fraction(1, 1_000_000)  # the unit of a container's duration and start time


def _seconds(ts: int | None, time_base) -> str | None:
    """A timestamp in seconds as ffprobe prints it ("%f" of ts × time base as a double), None for none."""
    if ts is None or not time_base:
        return None
    return "%f" % (ts * (time_base.numerator / time_base.denominator))


def _rational(value: Fraction | None) -> str:
    return f"{value.numerator}/{value.denominator}" if value else "0/0"


def _stream(stream) -> dict:
    """One stream's facts, keyed as ffprobe's JSON keys them."""
    from av.stream import Disposition

    facts = {"index": stream.index, "codec_type": stream.type, "tags": dict(stream.metadata),
             "disposition": {"default": int(Disposition.default in stream.disposition),
                             "attached_pic": int(Disposition.attached_pic in stream.disposition)}}
    if stream.type not in ("video", "audio"):
        return facts  # subtitles, data (a phone's timecode track, …): media.probe reads none of them
    codec = stream.codec_context
    if codec is None:  # no decoder for it here: ffprobe names the codec anyway
        raise LookupError(f"stream {stream.index}: no decoder")
    facts["codec_name"] = codec.codec.canonical_name
    duration = _seconds(stream.duration, stream.time_base)
    if duration is not None:
        facts["duration"] = duration
    if stream.type == "video":
        sar = stream.sample_aspect_ratio
        facts.update(width=codec.width, height=codec.height, nb_frames=str(stream.frames),
                     avg_frame_rate=_rational(stream.average_rate), r_frame_rate=_rational(stream.base_rate),
                     sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}" if sar else "N/A")
    elif stream.type == "audio":
        facts.update(sample_rate=str(codec.sample_rate), channels=codec.channels)
    return facts


def _display_rotation(container, stream) -> int | None:
    """The rotation of the display matrix of `stream` (counter-clockwise degrees, as ffprobe's
    side_data_list gives it), None when it has none: read from its first decoded key frame, since
    PyAV shows the matrix on frames only. LookupError when no frame decodes."""
    import av
    from av.sidedata.sidedata import Type

    codec = stream.codec_context
    codec.thread_count = 1
    codec.skip_frame = "NONKEY"  # the first key frame alone; its pixels are not used, so the decoder
    codec.options = {"skip_loop_filter": "all", "skip_idct": "all"}  # may skip what only they need
    for packet in container.demux(stream):
        if not packet.is_keyframe or not packet.size:
            continue
        try:  # decode(None) drains: the frame now, not after the decoder's reorder delay
            frames = codec.decode(packet) or codec.decode(None)
        except av.FFmpegError:
            frames = []
        codec.flush_buffers()  # ready for the next key frame when this one gave nothing
        if frames:
            frame = frames[0]
            if any(side.type == Type.DISPLAYMATRIX for side in frame.side_data):
                return frame.rotation
            return None
    raise LookupError("no video frame decodes")


def read(path: str | Path, timeout: float | None = None) -> dict | None:
    """ffprobe's `{"format": {...}, "streams": [...]}` for the file, read with PyAV; None where PyAV
    cannot tell (see the module's docstring), for the caller to ask ffprobe instead."""
    import av

    try:
        container = av.open("file:" + os.path.abspath(path), timeout=timeout)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    try:
        pairs = [(s, _stream(s)) for s in container.streams]
        video = next(((s, f) for s, f in pairs if f["codec_type"] == "video"
                      and not f["disposition"]["attached_pic"]), None)  # media.probe's choice
        if video is not None:
            rotation = _display_rotation(container, video[0])
            if rotation is not None:
                video[1]["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": rotation}]
        streams = [f for _, f in pairs]
        facts: dict = {"format": {"format_name": container.format.name}, "streams": streams}
        duration = _seconds(container.duration, AV_TIME_BASE)
        if duration is not None:
            facts["format"]["duration"] = duration
        return facts
    except (LookupError, av.FFmpegError, AttributeError, UnicodeDecodeError):
        return None
    finally:
        container.close()
