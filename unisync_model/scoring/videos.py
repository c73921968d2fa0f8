"""Scoring videos from their files (`unisync score PATH…`): each video named (a file, a folder searched
recursively, a list file: inputs.py) is probed, its audio decoded, its speaking face tracked
(`extract/tracks.py`) and what the scorer needs computed with the stages' per-clip functions, then
scored by `results.score_clip`, as the shard route scores what the extraction stages wrote.

**Bad input never stops a run.** A video that cannot be scored gets a row with a reason instead of
numbers: file missing / unreadable / no video stream (ffprobe), no audio stream, silent audio (RMS
below `silence_dbfs`, −55 dBFS by default; the quietest of the shared test clips is −36 dBFS), no
face / face tracks too short (tracks stage), a segment shorter than the scorer's window, any other
error (its type and message). Music without speech is not told apart from speech: it gets numbers,
usually with a low confidence.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from unisync_model.extract.stage import SkipClip
from unisync_model.io.media import MediaError, probe, speech_audio
from unisync_model.io.progress import progress
from unisync_model.scoring.inputs import expand_inputs
from unisync_model.scoring.results import VideoScore, failed, score_clip, score_or_reason, silence_reason
from unisync_model.scoring.scorers import ClipData, NoScore, Scorer
from unisync_model.settings import ScoreSettings


class VideoLoader:
    """Everything a scorer reads about a video, computed from the file: probe → audio (which stream:
    media.speech_audio; silent?) → the speaking face's track → the scorer's own inputs. Raises NoScore
    with the reason."""

    def __init__(self, scorer: Scorer, settings: ScoreSettings):
        self.scorer, self.settings = scorer, settings
        self._detector = None

    def detector(self):
        if self._detector is None:
            from unisync_model.extract.tracks import YuNetDetector
            self._detector = YuNetDetector(self.settings.tracks)
        return self._detector

    def __call__(self, path: str | Path, clip_id: str) -> ClipData:
        from unisync_model.extract.tracks import track_clip
        try:
            info = probe(path)
            if not info.has_audio:
                raise NoScore("no audio stream")
            audio = speech_audio(path, self.settings.audio_stream, self.settings.silence_dbfs, info=info)
            reason = silence_reason(audio.samples, self.settings.silence_dbfs)
            if reason:
                raise NoScore(reason + (f" in all {len(audio.tried)} audio streams" if len(audio.tried) > 1 else ""))
            track, _ = track_clip(path, self.detector(), self.settings.tracks)
            clip = ClipData(clip_id=clip_id, path=str(path), track=track, samples=audio.samples,
                            audio_stream=audio.stream)
            self.scorer.prepare(clip)
        except (MediaError, SkipClip) as err:
            raise NoScore(str(err)) from None
        return clip


def score_video(path: str | Path, scorer: Scorer, settings: ScoreSettings | None = None,
                clip_id: str | None = None, loader: VideoLoader | None = None) -> VideoScore:
    """One video from its file; a reason instead of numbers when it cannot be scored (never raises
    for bad input)."""
    settings = settings or ScoreSettings()
    loader = loader or VideoLoader(scorer, settings)
    clip_id = clip_id or Path(path).stem
    return score_or_reason(lambda: score_clip(loader(path, clip_id), scorer, str(path), settings.silence_dbfs),
                           str(path), clip_id, scorer.name)


def score_videos(paths: Iterable[str | Path], scorer: Scorer, settings: ScoreSettings | None = None,
                 on_result: Callable[[VideoScore], None] | None = None) -> list[VideoScore]:
    """Every video named by `paths` (files, folders, list files: inputs.py), in order; an entry that
    cannot be read or does not exist gets its reason. `on_result` sees each result as it comes."""
    settings = settings or ScoreSettings()
    loader = VideoLoader(scorer, settings)
    results = []
    for item in progress(expand_inputs(paths), desc=f"score ({scorer.name})", unit="video"):
        result = (failed(str(item.path), item.clip_id, scorer.name, item.reason) if item.reason
                  else score_video(item.path, scorer, settings, item.clip_id, loader))
        result.missing = item.missing
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
