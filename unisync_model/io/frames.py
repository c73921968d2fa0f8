"""Every video frame the project reads comes from here: one in-process decode (PyAV) at 25 fps CFR by
libavfilter's own `fps=25:start_time=0` filter, upright and with square pixels (`media.video_frames`,
which the stages call for BGR frames at a given size, reads this too, so every stage sees the same
frames and the same frame count).

Each frame offers what its readers need at the size each needs, without a full-size colour conversion
(for 1080p H.264 that conversion costs about as much as decoding; bench/RESULTS.md, benchmark (e)):
the luma plane at full resolution (dlib's grey input, read where the face is) and a small BGR image
(the face detector's and the shot detector's), scaled by swscale from the decoded planes.
Decoding runs on one thread by default: `unisync score --jobs N` scores N videos at once instead.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from unisync_model.io.media import MediaError, VideoInfo, file_url, probe
from unisync_model.settings import FPS

# planar 8-bit formats whose first plane is the luma (Y) at full resolution
LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "yuv440p",
              "yuvj440p", "yuv411p", "yuv410p", "gray"}
FULL_RANGE = {"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"}
# limited-range luma (16–235) to full range (0–255), as a grey image converted from RGB would hold it
LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)
ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


class DecodedFrame:
    """One 25 fps frame. `luma()` is the full-resolution grey picture (upright, square pixels; limited
    range stretched to full range only where `grey_patch` reads it), `small_bgr(w, h)` a small colour one."""

    def __init__(self, frame, info: VideoInfo):
        self.frame, self.info = frame, info
        self._luma: np.ndarray | None = None
        self._full_range = frame.format.name in FULL_RANGE or getattr(frame, "color_range", 0) == 2

    def luma(self) -> np.ndarray:
        """H × W uint8 (display size), the stored luma values (see `full_range`)."""
        if self._luma is None:
            frame = self.frame
            if frame.format.name in LUMA_FIRST:
                luma = _plane(frame, 0, frame.height, frame.width)
            else:  # other layouts (RGB, 10-bit, …): swscale's grey, full range
                luma, self._full_range = frame.to_ndarray(format="gray"), True
            if self.info.rotation in ROTATE:
                luma = cv2.rotate(luma, ROTATE[self.info.rotation])
            if luma.shape[1] != self.info.width or luma.shape[0] != self.info.height:  # non-square pixels
                luma = cv2.resize(luma, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
            self._luma = luma
        return self._luma

    def grey_patch(self, matrix: np.ndarray, side: int) -> np.ndarray:
        """The side × side full-range grey image that the 2 × 3 affine `matrix` maps the frame's pixels
        (display coordinates) to: cv2.warpAffine of the luma, bilinear, edges replicated."""
        patch = cv2.warpAffine(self.luma(), matrix, (side, side), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        return patch if self._full_range else cv2.LUT(patch, LIMITED_TO_FULL)

    def thumbnail_bgr(self, side: int) -> np.ndarray:
        """side × side × 3 uint8 BGR sampled from the planes (nearest pixels, stored orientation and aspect):
        enough for a colour histogram (shot changes), at a few microseconds instead of swscale's
        fraction of a millisecond on large frames. Other layouts than 4:2:0 go through small_bgr."""
        frame = self.frame
        if frame.format.name not in ("yuv420p", "yuvj420p"):
            return self.small_bgr(side, side)
        half = side // 2
        planes = [_plane(frame, 0, frame.height, frame.width)] + [
            _plane(frame, k, (frame.height + 1) // 2, (frame.width + 1) // 2) for k in (1, 2)]
        y = cv2.resize(planes[0], (2 * half, 2 * half), interpolation=cv2.INTER_NEAREST)
        u, v = (cv2.resize(p, (half, half), interpolation=cv2.INTER_NEAREST) for p in planes[1:])
        i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(3 * half, 2 * half)
        return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)

    def small_bgr(self, width: int, height: int) -> np.ndarray:
        """height × width × 3 uint8 BGR (display orientation), scaled by swscale's area filter (a detector's
        or a histogram's input: cheap from any size)."""
        return self.bgr(width, height, "AREA")

    def bgr(self, width: int, height: int, interpolation: str = "BICUBIC") -> np.ndarray:
        """height × width × 3 uint8 BGR (display orientation), scaled by swscale (bicubic by default, as
        ffmpeg's scale filter), so non-square pixels come out square."""
        turned = self.info.rotation in (90, 270)
        stored = (height, width) if turned else (width, height)
        image = self.frame.reformat(width=stored[0], height=stored[1], format="bgr24",
                                    interpolation=interpolation).to_ndarray()
        return cv2.rotate(image, ROTATE[self.info.rotation]) if self.info.rotation in ROTATE else image


def _plane(frame, index: int, height: int, width: int) -> np.ndarray:
    """Plane `index` of a planar frame as a height × width uint8 view (its rows are line_size apart)."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height, :width]


def decoder_version() -> str:
    """PyAV's version and the FFmpeg it bundles, for the records of what decoded the frames."""
    import av
    return f"PyAV {av.__version__} (FFmpeg {getattr(av, 'ffmpeg_version_info', '?')})"


def timeline_start(container, stream) -> int:
    """The container's start time in `stream`'s time base: subtracted from every timestamp, so that t = 0
    is where the file starts, as ffmpeg's command line counts (an MPEG-TS file starts at 1.4 s or so:
    without this, its video would be padded by that much and fall out of step with its audio)."""
    start = container.start_time  # in microseconds (AV_TIME_BASE); None when the container has none
    if not start or not stream.time_base:
        return 0
    return int(round(start / 1_000_000 / stream.time_base))


def timeline_frames(container, stream, kind: str, nothing: str) -> Iterator:
    """Every decoded frame of one stream (video or audio) of an open PyAV container, in order, its
    timestamp moved onto the file's timeline (timeline_start). A packet the decoder rejects is skipped,
    as ffmpeg does; when nothing decodes, MediaError: "<kind> decoding failed: <the decoder's error>",
    or `nothing` when no packet failed either."""
    import av

    shift = timeline_start(container, stream)
    decoded, failure = 0, None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as err:  # a damaged packet
            failure = err
            continue
        for frame in frames:
            decoded += 1
            if shift and frame.pts is not None:
                frame.pts -= shift
            yield frame
    if decoded == 0:
        raise MediaError(f"{kind} decoding failed: {failure}" if failure is not None else nothing)


def decoded_frames(path: str | Path, info: VideoInfo | None = None, threads: int = 1) -> Iterator[DecodedFrame]:
    """The video's frames at 25 fps CFR from t = 0, the file's start (libavfilter's fps filter: frames
    duplicated or dropped by timestamp, a late start padded with the first frame), decoded on `threads`
    threads. A packet the decoder rejects is skipped, as ffmpeg does; MediaError if the file cannot be
    opened or nothing in it decodes."""
    import av

    info = info or probe(path)
    try:
        container = av.open(file_url(path))
    except (av.FFmpegError, OSError) as err:
        raise MediaError(f"unreadable: {err}") from None
    try:
        stream = container.streams[info.video_stream]
        stream.codec_context.thread_count = max(1, int(threads))
        graph = av.filter.Graph()
        source = graph.add_buffer(template=stream)
        resample = graph.add("fps", f"fps={FPS}:start_time=0")
        sink = graph.add("buffersink")
        source.link_to(resample)
        resample.link_to(sink)
        graph.configure()

        def drain() -> Iterator[DecodedFrame]:
            while True:
                try:
                    yield DecodedFrame(graph.vpull(), info)
                except (av.BlockingIOError, av.EOFError):
                    return

        for frame in timeline_frames(container, stream, "video", "video decoding failed: no frame decoded"):
            graph.vpush(frame)
            yield from drain()
        graph.vpush(None)
        yield from drain()
    except av.FFmpegError as err:
        raise MediaError(f"video decoding failed: {err}") from None
    finally:
        container.close()
