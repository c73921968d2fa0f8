"""Fix a video's audio-visual offset: a copy whose audio is shifted in time (and, for a linear drift,
resampled), the video stream untouched.

**Sign** (the one `unisync score` reports, syncnet_python's AV offset): an offset of N frames > 0
means the audio leads the video by N × 40 ms; the fix *delays* the audio by N frames (N < 0:
advances it by |N|). Hence score(fix(video, score(video))) ≈ 0. N may be fractional; frames are 25 fps
frames (40 ms) whatever the video's own frame rate, as everywhere in the pipeline.

**Drift** R ms per minute: the offset grows by R ms every minute of video, offset(t) = N·40 ms +
R·t/60 s (t in seconds of video), so R > 0 means the audio runs fast (a sound due at video time t is
heard R·t/60 ms early: its clock ticks 1/(1 − R/60000) times the video's). The fix first applies the
offset at t = 0 (N), then stretches the audio's timeline about t = 0 by 1/(1 − R/60000) (≈ 1 + R/60000;
R > 0 slows the audio down). See `stretch_filter` for how, and docs/fix.md.

**How**: ffmpeg opens the file twice, the second time with `-itsoffset N/25` s, and takes the video
of the first (stream-copied, never re-encoded) and the audio of the second. The audio is
stream-copied only from MP4 / MOV into MP4 / MOV, where its start stays exact; elsewhere (and always
when a drift is corrected) it is re-encoded into a codec whose start the container keeps exact. Why,
and what was measured: docs/fix.md.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.media import MediaError, file_url, probe, run
from unisync_model.settings import FPS

log = logging.getLogger(__name__)

EDIT_LIST_CONTAINERS = (".mp4", ".m4v", ".mov", ".3gp")  # the audio can be stream-copied between these
REENCODE = {  # output suffix → the audio encoder whose start the container keeps exact
    **{suffix: ["-c:a", "aac", "-b:a", "192k"] for suffix in EDIT_LIST_CONTAINERS},
    ".mkv": ["-c:a", "flac"], ".mka": ["-c:a", "flac"],
    ".avi": ["-c:a", "pcm_s16le"],
    ".webm": ["-c:a", "libopus", "-b:a", "128k"],
}
MAX_DRIFT_MS_PER_MIN = 6000.0  # 10 %: beyond any clock drift or frame-rate mix-up (PAL speed-up is 4 %)
WORK_RATE = 384_000  # Hz at least: asetrate takes whole Hz, so the stretch is exact to 0.5 / 384 000 (0.08 ms/min)
SHIFT_FILTER = "aresample=async=1:first_pts=0"  # writes the -itsoffset shift into the samples


class FixError(RuntimeError):
    pass


def stretch_ratio(drift_ms_per_min: float) -> float:
    """How much longer the fixed audio lasts than the input's: 1 / (1 − R/60000). The drift is measured
    against video time, so a sound due at video time t sits at t·(1 − R/60000) in the input."""
    return 1.0 / (1.0 - float(drift_ms_per_min) / 60000.0)


def stretch_filter(rate: int, ratio: float) -> tuple[str, float]:
    """ffmpeg filters that make audio at `rate` Hz last `ratio` times longer, and the ratio they give.

    Resampling (asetrate, then aresample back), not atempo: a drift is a clock that ticks at the wrong
    rate, whose exact inverse is resampling: linear, sample-exact in time, and it also undoes the
    clock's pitch error (0.3 % is 5 cents). atempo (WSOLA) keeps the pitch by cutting and overlapping
    ~tens-of-ms grains, which places sounds only to within a grain and smears transients. asetrate takes
    whole Hz, so the audio goes through a rate of at least WORK_RATE first."""
    work = rate * math.ceil(WORK_RATE / rate)
    relabelled = round(work / ratio)
    return f"aresample={work},asetrate={relabelled},aresample={rate}", work / relabelled


def _command(video: Path, out: Path, seconds: float, reencode: bool, stretch: str = "") -> list[str]:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", file_url(video), "-itsoffset", f"{seconds:.6f}",
           "-i", file_url(video), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-map_metadata", "0"]
    if reencode or stretch:
        cmd += REENCODE[out.suffix.lower()] + ["-af", ",".join(filter(None, [SHIFT_FILTER, stretch]))]
    else:
        cmd += ["-c:a", "copy"]
    return cmd + [file_url(out)]


def _check_drift(drift_ms_per_min: float) -> float:
    drift = float(drift_ms_per_min)
    if not math.isfinite(drift) or abs(drift) > MAX_DRIFT_MS_PER_MIN:
        raise FixError(f"drift {drift_ms_per_min} ms per minute: give a finite rate within ±{MAX_DRIFT_MS_PER_MIN:g} "
                       f"(10 %)")
    return drift


def shift_audio(video: str | Path, out: str | Path, offset_frames: float, reencode_audio: bool = False,
                drift_ms_per_min: float = 0.0) -> dict:
    """Write `out`: `video` with its audio delayed by offset_frames × 40 ms (advanced when negative),
    then, for a drift (ms per minute, module docstring), resampled to run at the video's pace; the video
    stream copied. Returns what was done."""
    video, out = Path(video), Path(out)
    if not video.is_file():
        raise FixError(f"{video}: file missing")
    if out.exists() and os.path.samefile(video, out):
        raise FixError("the output must not be the input file")
    if out.suffix.lower() not in REENCODE:
        raise FixError(f"{out.name}: write {', '.join(sorted(REENCODE))} (where the shifted audio starts exactly "
                       f"where it should)")
    drift = _check_drift(drift_ms_per_min)
    info = probe(video)
    if not info.has_audio:
        raise FixError(f"{video}: no audio stream to shift")
    seconds = float(offset_frames) / FPS
    stretch, ratio = stretch_filter(info.audio_rate or 48000, stretch_ratio(drift)) if drift else ("", 1.0)
    copyable = video.suffix.lower() in EDIT_LIST_CONTAINERS and out.suffix.lower() in EDIT_LIST_CONTAINERS
    needs_encoding = reencode_audio or bool(stretch) or not copyable
    why = "asked" if reencode_audio else "resampled for the drift" if stretch else "" if copyable else (
        "the audio is only stream-copied from MP4 / MOV to MP4 / MOV, where its start stays exact")
    encoded = {"needed": needs_encoding, "why": why}

    def write(tmp: Path) -> None:  # tmp keeps the suffix: the muxer is chosen by it
        try:
            run(_command(video, tmp, seconds, encoded["needed"], stretch))
        except MediaError as err:
            if encoded["needed"]:
                raise
            log.info("fix: stream copy of the audio failed (%s); re-encoding it", str(err).splitlines()[-1][:200])
            encoded.update(needed=True, why=f"stream copy failed: {str(err)[-200:]}")
            run(_command(video, tmp, seconds, True))

    try:
        write_atomic(out, write, keep_suffix=True)
    except MediaError as err:
        raise FixError(f"ffmpeg could not write {out}: {err}") from None
    needs_encoding, why = encoded["needed"], encoded["why"]
    return {"video": str(video), "out": str(out), "offset_frames": float(offset_frames),
            "offset_ms": round(float(offset_frames) * 1000.0 / FPS, 1),
            "audio": "delayed" if seconds > 0 else "advanced" if seconds < 0 else "unchanged",
            "drift_ms_per_min": drift, "audio_stretch": ratio,
            "audio_codec": f"re-encoded ({why})" if needs_encoding else "copied", "video_codec": "copied"}


def offset_at_start(offset_frames: float, drift_ms_per_min: float, seconds: float) -> float:
    """The offset at t = 0 of a video whose whole-video offset is `offset_frames`: under a linear drift
    that pooled offset is the one at mid-video, R·(seconds/2)/60 ms after the start."""
    return float(offset_frames) - drift_ms_per_min * seconds / 2 / 60 / (1000.0 / FPS)


def measured_line(detected, video):
    """The drift line a score measured (over_time.DriftLine) when it is a steady drift; FixError
    "no drift measured" otherwise."""
    line = getattr(detected, "drift", None)
    if line is None or not line.drift:
        seen = "" if line is None else (f": the offset over time moved at {line.rate_ms_per_min:+.1f} ms per minute, "
                                        f"not steadily enough to call it a drift")
        raise FixError(f"{video}: no drift measured by the {detected.scorer} scorer{seen}; give --drift-ms-per-min R "
                       f"to correct a known one")
    return line


def fix_video(video: str | Path, out: str | Path, offset_frames: float | None = None, scorer=None,
              settings=None, reencode_audio: bool = False, drift_ms_per_min: float | None = None,
              measured_drift: bool = False) -> dict:
    """Shift the audio by `offset_frames` (the offset at the start), or by the offset the scorer detects
    (videos.score_video's per-video offset; FixError if the video gets no score), and correct a linear
    drift: `drift_ms_per_min`, or with `measured_drift` the line the scorer measured (offsets over time:
    its rate and its offset at the start; FixError when it found no steady drift). A detected offset
    under a given drift is the mid-video one, so it is carried back to the start (offset_at_start). The
    record says which and with what confidence."""
    if measured_drift and drift_ms_per_min is not None:
        raise FixError("give a drift rate or ask for the measured one, not both")
    detected = None
    if offset_frames is None or measured_drift:
        from unisync_model.scoring.scorers import scorer_from_settings
        from unisync_model.scoring.videos import score_video
        scorer = scorer or scorer_from_settings("training-free", settings=settings)
        detected = score_video(video, scorer, settings)
        if not detected.ok:
            raise FixError(f"{video}: cannot detect the {'offset' if offset_frames is None else 'drift'}: "
                           f"{detected.reason}")
    line = measured_line(detected, video) if measured_drift else None
    drift = _check_drift(line.rate_ms_per_min if line else drift_ms_per_min or 0.0)
    start = offset_frames
    if offset_frames is None and line is not None:
        start = line.offset_at(0.0)  # the measured line's own start, to a fraction of a frame
    elif offset_frames is None:
        start = offset_at_start(detected.offset, drift, probe(video).video_seconds) if drift else detected.offset
    record = shift_audio(video, out, start, reencode_audio, drift)
    if detected is not None:
        record.update(detected_by=detected.scorer, confidence=detected.confidence, min_dist=detected.min_dist)
        if offset_frames is None:
            record["detected_offset_frames"] = detected.offset
    record["drift_from"] = "measured" if measured_drift else "given" if drift else "none"
    return record
