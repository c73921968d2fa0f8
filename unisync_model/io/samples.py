"""Every audio sample the project reads comes from here: one in-process decode (PyAV) of an audio
stream to 16 kHz mono, on the same timeline as io/frames.py's video (t = 0 where the file starts).

The filter chain is the one ffmpeg's command line ran before (`-af aresample=16000:async=1:first_pts=0
-ac 1 -f s16le`): a stream that starts late is padded with silence and gaps are filled, so the samples
stay in step with the frames. Against that command (FFmpeg 5.1) the samples of the shared real clips
are equal or one step of 16-bit apart; in-process it costs about a fifth of the time, most of which
was starting the process (bench/RESULTS.md, benchmark (e)).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unisync_model.io.frames import timeline_frames
from unisync_model.io.media import MediaError, file_url
from unisync_model.io.pcm import pcm16_to_float
from unisync_model.settings import SAMPLE_RATE


def decoded_audio(path: str | Path, stream: int = 0) -> np.ndarray:
    """Audio stream `stream` (ffmpeg's `0:a:N`) as 16 kHz mono float32 in [-1, 1), from the file's t = 0.
    A packet the decoder rejects is skipped, as ffmpeg does. MediaError: "no audio stream", "unreadable:
    …", "audio decoding failed: …" (nothing decodes), "no audio samples"."""
    import av

    try:
        container = av.open(file_url(path))
    except (av.FFmpegError, OSError) as err:
        raise MediaError(f"unreadable: {err}") from None
    try:
        if not 0 <= stream < len(container.streams.audio):
            raise MediaError("no audio stream")
        source_stream = container.streams.audio[stream]
        graph = av.filter.Graph()
        chain = [graph.add_abuffer(template=source_stream),
                 graph.add("aresample", f"{SAMPLE_RATE}:async=1:first_pts=0"),
                 graph.add("aformat", "sample_fmts=s16:channel_layouts=mono"),
                 graph.add("abuffersink")]
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        pieces: list[np.ndarray] = []

        def drain() -> None:
            while True:
                try:
                    pieces.append(graph.pull().to_ndarray().reshape(-1).copy())
                except (av.BlockingIOError, av.EOFError):
                    return

        for frame in timeline_frames(container, source_stream, "audio", "no audio samples"):
            graph.push(frame)
            drain()
        graph.push(None)
        drain()
    except av.FFmpegError as err:
        raise MediaError(f"audio decoding failed: {err}") from None
    finally:
        container.close()
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    if len(samples) == 0:
        raise MediaError("no audio samples")
    return pcm16_to_float(samples)
