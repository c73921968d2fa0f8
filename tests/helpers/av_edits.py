"""Test media made from real clips by ffmpeg, for issue 19's tests: audio delayed or running fast, two
speakers side by side, a cut between two speakers, music before speech, a clip looped into a long one;
and `audio_lag`, which measures where a clip's audio went (envelope cross-correlation).

Every builder writes `out` (its folder made if missing) and returns it, raising AvEditError with
ffmpeg's complaint when ffmpeg fails. Written on purpose without the package's fix / scoring code, so
that tests of that code do not check it against itself. Video is re-encoded as H.264 (CRF 18) only
where frames change; audio as AAC at the source's sample rate (48 kHz where two sources meet), FLAC
or PCM in Matroska / AVI, which would not keep AAC's start exact.
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.signal

VIDEO_CODEC = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
AUDIO_CODEC = ["-c:a", "aac", "-b:a", "160k"]
LOSSLESS_AUDIO = {".mkv": ["-c:a", "flac"], ".mka": ["-c:a", "flac"], ".avi": ["-c:a", "pcm_s16le"]}  # where
# AAC's encoder delay (1024 samples) is not signalled and would move the audio by 64 ms (docs/fix.md)
JOIN_AUDIO = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo"  # where two sources' audio meet
WORK_RATE = 384_000  # speed_audio relabels the audio at this rate or above (asetrate takes whole Hz)


class AvEditError(RuntimeError):
    pass


def ffmpeg(*args: str | Path) -> None:
    result = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise AvEditError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()[-600:]}")


def streams(path: str | Path) -> dict[str, dict]:
    """ffprobe's first video and first audio stream of `path` ("video", "audio"), durations as floats."""
    result = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AvEditError(f"ffprobe {path}: {result.stderr.strip()[-300:]}")
    facts = json.loads(result.stdout)
    found: dict[str, dict] = {}
    for stream in facts.get("streams", []):
        kind = stream.get("codec_type")
        if kind in ("video", "audio") and kind not in found:
            stream["duration"] = float(stream.get("duration") or facts["format"]["duration"])
            found[kind] = stream
    return found


def _durations(path: str | Path) -> tuple[float, float]:
    found = streams(path)
    if "video" not in found or "audio" not in found:
        raise AvEditError(f"{path}: needs a video and an audio stream, has {sorted(found)}")
    return found["video"]["duration"], found["audio"]["duration"]


def _audio_codec(out: str | Path) -> list[str]:
    return LOSSLESS_AUDIO.get(Path(out).suffix.lower(), AUDIO_CODEC)


def _out(out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def delay_audio(src: str | Path, out: str | Path, seconds: float) -> Path:
    """`src` with its audio `seconds` later (silence in front; seconds < 0: its first |seconds| cut and
    silence at the end), the audio as long as before, the video stream copied."""
    _, audio = _durations(src)
    if seconds >= 0:
        shift = f"adelay=delays={round(seconds * 1000)}:all=1"
    else:
        shift = f"atrim=start={-seconds:.6f},asetpts=PTS-STARTPTS,apad"
    ffmpeg("-i", src, "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", *_audio_codec(out),
           "-af", f"{shift},atrim=end={audio:.6f}", _out(out))
    return Path(out)


def speed_audio(src: str | Path, out: str | Path, factor: float) -> Path:
    """`src` with its audio running `factor` times fast (1.003: a sound due at t is heard at t / 1.003),
    as a recorder whose clock runs fast gives it: every sample kept, played at factor × the rate (the
    pitch rises by `factor` too), then resampled back to the source's rate. The video stream is copied."""
    rate = int(streams(src)["audio"]["sample_rate"])
    work = rate * math.ceil(WORK_RATE / rate)
    ffmpeg("-i", src, "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", *_audio_codec(out),
           "-af", f"aresample={work},asetrate={round(work * factor)},aresample={rate}", _out(out))
    return Path(out)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def side_by_side(left: str | Path, right: str | Path, out: str | Path, audio_from: str = "left",
                 height: int = 256) -> Path:
    """`left` and `right` at `height` pixels high (aspect kept), 25 fps, side by side, with the audio of
    the one `audio_from` names; as long as the shorter clip."""
    if audio_from not in ("left", "right"):
        raise ValueError(f"audio_from must be 'left' or 'right', not {audio_from!r}")
    seconds = min(min(_durations(left)), min(_durations(right)))
    scale = f"scale=-2:{height},setsar=1,fps=25"
    ffmpeg("-i", left, "-i", right, "-filter_complex", f"[0:v]{scale}[l];[1:v]{scale}[r];[l][r]hstack=shortest=1[v]",
           "-map", "[v]", "-map", f"{0 if audio_from == 'left' else 1}:a:0", "-t", f"{seconds:.6f}", *VIDEO_CODEC,
           *_audio_codec(out), _out(out))
    return Path(out)


def _boxed(index: int, width: int, height: int, seconds: float) -> str:
    """Filters that make input `index` a width × height, 25 fps clip (letterboxed) of `seconds`, audio too."""
    return (f"[{index}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,trim=duration={seconds:.6f},"
            f"setpts=PTS-STARTPTS[v{index}];"
            f"[{index}:a]{JOIN_AUDIO},atrim=duration={seconds:.6f},asetpts=PTS-STARTPTS[a{index}]")


def concat_cut(first: str | Path, second: str | Path, out: str | Path, height: int = 256) -> Path:
    """A cut: `first` then `second`, each with its own audio, each cut to the shorter of its streams (so
    the cut falls at min(first's durations)), both the size of `first` scaled to `height` (the second
    letterboxed into it)."""
    info = streams(first)["video"]
    width = _even(height * int(info["width"]) / int(info["height"]))
    d1, d2 = min(_durations(first)), min(_durations(second))
    ffmpeg("-i", first, "-i", second, "-filter_complex",
           f"{_boxed(0, width, height, d1)};{_boxed(1, width, height, d2)};[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]",
           "-map", "[v]", "-map", "[a]", *VIDEO_CODEC, *_audio_codec(out), _out(out))
    return Path(out)


def music_before(speech: str | Path, music: str | Path, out: str | Path, seconds: float = 5.0,
                 lead: str = "freeze") -> Path:
    """`speech` with `seconds` of `music`'s audio in front (the first seconds of the music clip), and in
    front of the speech's video for those seconds:

    - lead="freeze" (default): the speech clip's first frame, held. The picture then runs on without a
      cut into the speech (one face track, one shot), so the clip differs from the speech alone only
      by what is heard first, and a still mouth cannot be in sync with the music by accident.
    - lead="loop": the speech clip's own first `seconds` of video (a moving mouth over music, then a
      jump cut back to the start): the harder case, where only speech gating keeps the music out.
    """
    if lead not in ("freeze", "loop"):
        raise ValueError(f"lead must be 'freeze' or 'loop', not {lead!r}")
    if min(_durations(music)) < seconds:
        raise AvEditError(f"{music} is shorter than {seconds} s")
    d = min(_durations(speech))
    speech_video = f"trim=duration={d:.6f},setpts=PTS-STARTPTS"
    if lead == "freeze":
        video = f"[0:v]fps=25,{speech_video},tpad=start_duration={seconds:.6f}:start_mode=clone[v]"
    else:
        video = (f"[0:v]fps=25,trim=duration={seconds:.6f},setpts=PTS-STARTPTS[lead];"
                 f"[2:v]fps=25,{speech_video}[speech];[lead][speech]concat=n=2:v=1:a=0[v]")
    audio = (f"[1:a]{JOIN_AUDIO},atrim=duration={seconds:.6f},asetpts=PTS-STARTPTS[m];"
             f"[0:a]{JOIN_AUDIO},atrim=duration={d:.6f},asetpts=PTS-STARTPTS[s];[m][s]concat=n=2:v=0:a=1[a]")
    inputs = ["-i", speech, "-i", music] + (["-i", speech] if lead == "loop" else [])
    ffmpeg(*inputs, "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]", *VIDEO_CODEC, *_audio_codec(out),
           _out(out))
    return Path(out)


def concat_loop(src: str | Path, out: str | Path, times: int) -> Path:
    """`src` played `times` times in a row (each copy cut to the shorter of its streams, so audio and
    video stay together across the joins): a long clip from a short one."""
    if times < 1:
        raise ValueError("times must be at least 1")
    d = min(_durations(src))
    parts = ";".join(f"[{k}:v]fps=25,trim=duration={d:.6f},setpts=PTS-STARTPTS[v{k}];"
                     f"[{k}:a]atrim=duration={d:.6f},asetpts=PTS-STARTPTS[a{k}]" for k in range(times))
    joined = "".join(f"[v{k}][a{k}]" for k in range(times))
    ffmpeg(*[arg for _ in range(times) for arg in ("-i", src)], "-filter_complex",
           f"{parts};{joined}concat=n={times}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]", *VIDEO_CODEC,
           *_audio_codec(out), _out(out))
    return Path(out)


# ------------------------------------------------------------------------------------- measuring

ENVELOPE_RATE = 1000  # Hz: the lag's resolution is 1 ms


class Lag(NamedTuple):
    seconds: float  # how much later the original's content is heard in the edited audio (< 0: earlier)
    peak: float  # the normalised cross-correlation there (1: the same envelope)


def envelope(samples: np.ndarray, rate: int = 16000) -> np.ndarray:
    """The loudness envelope at ENVELOPE_RATE: |x| low-passed at 40 Hz (syllables, not pitch, so a
    resampled copy still matches)."""
    sos = scipy.signal.butter(4, 40, fs=rate, output="sos")
    return scipy.signal.sosfiltfilt(sos, np.abs(np.asarray(samples, np.float64)))[::rate // ENVELOPE_RATE]


def audio_lag(original: np.ndarray, edited: np.ndarray, centre: float, window: float = 8.0,
              max_lag: float = 1.0, rate: int = 16000) -> Lag:
    """Where the `window` seconds of `original` around `centre` s are heard in `edited` (both mono at
    `rate`, e.g. io.media.audio_samples): the lag in [−max_lag, max_lag] of the highest normalised
    cross-correlation of their envelopes."""
    a, b = envelope(original, rate), envelope(edited, rate)
    start, n, m = round((centre - window / 2) * ENVELOPE_RATE), round(window * ENVELOPE_RATE), round(
        max_lag * ENVELOPE_RATE)
    if start < 0 or start + n > len(a):
        raise ValueError(f"the window {centre} ± {window / 2} s is not inside the original ({len(a) / 1000:.2f} s)")
    segment = a[start:start + n] - a[start:start + n].mean()
    padded = np.concatenate([np.zeros(m), b, np.zeros(start + n + m)])[start:start + n + 2 * m]
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    squares = np.concatenate([[0.0], np.cumsum(padded ** 2)])
    local_sum, local_sq = sums[n:] - sums[:-n], squares[n:] - squares[:-n]
    spread = np.sqrt(np.maximum(local_sq - local_sum ** 2 / n, 1e-12))
    score = scipy.signal.correlate(padded, segment, mode="valid") / (spread * np.linalg.norm(segment) + 1e-12)
    best = int(np.argmax(score))
    return Lag((best - m) / ENVELOPE_RATE, float(score[best]))
