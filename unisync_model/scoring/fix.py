"""Fix a video's audio-visual offset: a copy whose audio is shifted in time, the video stream untouched.

**Sign** (the one `unisync score` reports, syncnet_python's AV offset): an offset of N frames > 0
means the audio leads the video by N × 40 ms; the fix *delays* the audio by N frames (N < 0:
advances it by |N|). Hence score(fix(video, score(video))) ≈ 0. N may be fractional; frames are 25 fps
frames (40 ms) whatever the video's own frame rate, as everywhere in the pipeline.

**How**: ffmpeg opens the file twice, the second time with `-itsoffset N/25` s, and takes the video
of the first (stream-copied, never re-encoded) and the audio of the second. The audio is
stream-copied only from MP4 / MOV into MP4 / MOV, where its start stays exact; elsewhere it is
re-encoded into a codec whose start the container keeps exact. Why, and what was measured:
docs/fix.md.
"""
from __future__ import annotations

import logging
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


class FixError(RuntimeError):
    pass


def _command(video: Path, out: Path, seconds: float, reencode: bool) -> list[str]:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", file_url(video), "-itsoffset", f"{seconds:.6f}",
           "-i", file_url(video), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-map_metadata", "0"]
    if reencode:
        cmd += REENCODE[out.suffix.lower()] + ["-af", "aresample=async=1:first_pts=0"]
    else:
        cmd += ["-c:a", "copy"]
    return cmd + [file_url(out)]


def shift_audio(video: str | Path, out: str | Path, offset_frames: float, reencode_audio: bool = False) -> dict:
    """Write `out`: `video` with its audio delayed by offset_frames × 40 ms (advanced when negative),
    the video stream copied. Returns what was done."""
    video, out = Path(video), Path(out)
    if not video.is_file():
        raise FixError(f"{video}: file missing")
    if out.exists() and os.path.samefile(video, out):
        raise FixError("the output must not be the input file")
    if out.suffix.lower() not in REENCODE:
        raise FixError(f"{out.name}: write {', '.join(sorted(REENCODE))} (where the shifted audio starts exactly "
                       f"where it should)")
    info = probe(video)
    if not info.has_audio:
        raise FixError(f"{video}: no audio stream to shift")
    seconds = float(offset_frames) / FPS
    copyable = video.suffix.lower() in EDIT_LIST_CONTAINERS and out.suffix.lower() in EDIT_LIST_CONTAINERS
    needs_encoding = reencode_audio or not copyable
    why = "asked" if reencode_audio else "" if copyable else (
        "the audio is only stream-copied from MP4 / MOV to MP4 / MOV, where its start stays exact")
    encoded = {"needed": needs_encoding, "why": why}

    def write(tmp: Path) -> None:  # tmp keeps the suffix: the muxer is chosen by it
        try:
            run(_command(video, tmp, seconds, encoded["needed"]))
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
            "audio_codec": f"re-encoded ({why})" if needs_encoding else "copied", "video_codec": "copied"}


def fix_video(video: str | Path, out: str | Path, offset_frames: float | None = None, scorer=None,
              settings=None, reencode_audio: bool = False) -> dict:
    """Shift the audio by `offset_frames`, or by the offset the scorer detects (videos.score_video's
    per-video offset; FixError if the video gets no score). The record says which and with what confidence."""
    detected = None
    if offset_frames is None:
        from unisync_model.scoring.scorers import scorer_from_settings
        from unisync_model.scoring.videos import score_video
        scorer = scorer or scorer_from_settings("training-free", settings=settings)
        detected = score_video(video, scorer, settings)
        if not detected.ok:
            raise FixError(f"{video}: cannot detect the offset: {detected.reason}")
        offset_frames = detected.offset
    record = shift_audio(video, out, offset_frames, reencode_audio)
    if detected is not None:
        record.update(detected_by=detected.scorer, confidence=detected.confidence, min_dist=detected.min_dist)
    return record
