"""Scoring videos from their files (`unisync score PATH…`): each video named (a file, a folder searched
recursively, a list file: inputs.py) is probed, its audio decoded, its faces tracked
(`extract/track_stream.py`), the speaking face chosen (by sync by default: speaker_choice.py) and what
the scorer needs computed with the stages' per-clip functions, then scored by `results.score_clip`, as
the shard route scores what the extraction stages wrote.

**Bad input never stops a run.** A video that cannot be scored gets a row with a reason instead of
numbers: file missing / unreadable / no video stream (the probe), no audio stream, silent audio (RMS
below `silence_dbfs`, −55 dBFS by default; the quietest of the shared test clips is −36 dBFS), no
face / face tracks too short (tracks stage), a segment shorter than the scorer's window, any other
error (its type and message). Music without speech is not told apart from speech: it gets numbers,
usually with a low confidence.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from unisync_model.extract.stage import SkipClip
from unisync_model.io.media import MediaError, probe, speech_audio
from unisync_model.io.progress import progress
from unisync_model.scoring.inputs import InputItem, expand_inputs
from unisync_model.scoring.results import VideoScore, failed, score_clip, score_or_reason, silence_reason
from unisync_model.scoring.scorers import ClipData, NoScore, Scorer
from unisync_model.scoring.speaker_choice import Score, SpeakerChoice, choose_speaker
from unisync_model.settings import FPS, ScoreSettings


class VideoLoader:
    """Everything a scorer reads about a video, computed from the file: probe → audio (which stream:
    media.speech_audio; silent?) → the speaking face's track (speaker_choice.py) → the scorer's own
    inputs. Raises NoScore with the reason."""

    def __init__(self, scorer: Scorer, settings: ScoreSettings):
        self.scorer, self.settings = scorer, settings
        self._detector = None

    def detector(self):
        if self._detector is None:
            from unisync_model.extract.faces import YuNetDetector
            self._detector = YuNetDetector(self.settings.tracks)
        return self._detector

    def __call__(self, path: str | Path, clip_id: str) -> ClipData:
        """The speaking face's clip, ready to score."""
        return self.load(path, clip_id).clip

    def load(self, path: str | Path, clip_id: str, score: Score | None = None) -> SpeakerChoice:
        """The speaking face's clip and, when the speaker was chosen by sync, the other faces' scored
        segments; `score` scores a clip (default: score_clip with this loader's settings)."""
        from unisync_model.extract.track_stream import stream_tracks
        if score is None:
            def score(clip: ClipData) -> VideoScore:
                return score_clip(clip, self.scorer, str(path), self.settings)
        try:
            info = probe(path)
            if not info.has_audio:
                raise NoScore("no audio stream")
            audio = speech_audio(path, self.settings.audio_stream, self.settings.silence_dbfs, info=info)
            reason = silence_reason(audio.samples, self.settings.silence_dbfs)
            if reason:
                raise NoScore(reason + (f" in all {len(audio.tried)} audio streams" if len(audio.tried) > 1 else ""))
            clip = ClipData(clip_id=clip_id, path=str(path), samples=audio.samples, audio_stream=audio.stream)
            if getattr(self.scorer, "tracks_faces", True):  # False: the whole frame is the face, prepare says so
                # what the scorer reads of the face while the tracks are followed: one decode for both
                reader = self.scorer.frame_reader() if hasattr(self.scorer, "frame_reader") else None
                tracks = stream_tracks(path, self.detector(), self.settings.tracks, on_frame=reader, info=info)
                return choose_speaker(clip, tracks.candidates, tracks.kept, tracks.track, reader, self.scorer,
                                      self.settings.tracks, score)
            self.scorer.prepare(clip)
        except (MediaError, SkipClip) as err:
            raise NoScore(str(err)) from None
        return SpeakerChoice(clip, [])


def score_video(path: str | Path, scorer: Scorer, settings: ScoreSettings | None = None,
                clip_id: str | None = None, loader: VideoLoader | None = None) -> VideoScore:
    """One video from its file; a reason instead of numbers when it cannot be scored (never raises
    for bad input)."""
    settings = settings or ScoreSettings()
    loader = loader or VideoLoader(scorer, settings)
    clip_id = clip_id or Path(path).stem

    def score(clip: ClipData) -> VideoScore:
        return score_clip(clip, scorer, str(path), settings)

    return score_or_reason(lambda: loader.load(path, clip_id, score).scored(score), str(path), clip_id, scorer.name)


def score_videos(paths: Iterable[str | Path], scorer: Scorer, settings: ScoreSettings | None = None,
                 on_result: Callable[[VideoScore], None] | None = None, jobs: int = 1,
                 plot_dir: str | Path | None = None) -> list[VideoScore]:
    """Every video named by `paths` (files, folders, list files: inputs.py), in order; an entry that
    cannot be read or does not exist gets its reason. `on_result` sees each result as it comes, in order;
    with `plot_dir`, each scored video's plot is drawn there as it is scored (outputs.draw_plot).

    jobs > 1 scores that many videos at once, each in its own process on one thread (spawned, so that
    no thread pool is inherited mid-use); the results are those of jobs = 1, in the same order."""
    settings = settings or ScoreSettings()
    items = expand_inputs(paths)
    bar = progress(total=len(items), desc=f"score ({scorer.name})", unit="video")
    seconds = 0.0

    def done(item: InputItem, result: VideoScore) -> VideoScore:
        nonlocal seconds
        result.missing = item.missing
        seconds += result.frames / FPS
        bar.update(1)
        bar.set_postfix_str(f"{seconds:.0f} s of video", refresh=False)
        if on_result is not None:
            on_result(result)
        return result

    def unreadable(item: InputItem) -> VideoScore:
        return failed(str(item.path), item.clip_id, scorer.name, item.reason)

    def collected(item: InputItem, future: Future) -> VideoScore:
        try:
            return future.result()
        except Exception as err:  # a worker that died (BrokenProcessPool): a reason, and the run goes on
            return failed(str(item.path), item.clip_id, scorer.name, f"error: {type(err).__name__}: {err}")

    scorable = sum(not item.reason for item in items)
    try:
        if jobs <= 1 or scorable <= 1:
            loader = VideoLoader(scorer, settings)
            return [done(item, unreadable(item) if item.reason else
                         _score_and_plot(item.path, item.clip_id, scorer, settings, loader, plot_dir))
                    for item in items]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(jobs, scorable), mp_context=context, initializer=_start_worker,
                                 initargs=(scorer, settings, plot_dir)) as pool:
            # the largest files first, so that no long video is left to one worker at the end
            futures: dict[int, Future] = {}
            for k in sorted((k for k, item in enumerate(items) if not item.reason),
                            key=lambda k: -_size(items[k].path)):
                futures[k] = pool.submit(_score_in_worker, str(items[k].path), items[k].clip_id)
            return [done(item, collected(item, futures[k]) if k in futures else unreadable(item))
                    for k, item in enumerate(items)]
    finally:
        bar.close()


def default_jobs(scorer: Scorer) -> int:
    """`unisync score`'s default --jobs: a video per CPU core this process may use; one when the scorer's
    model runs on a GPU, whose batches are the parallelism there (a worker each would hold its own CUDA
    context and copy of the model)."""
    from unisync_model.io.device import available_cores
    device = getattr(scorer, "device", None) or getattr(getattr(scorer, "expert", None), "device", None)
    return 1 if str(device).startswith("cuda") else available_cores()


def _score_and_plot(path: str | Path, clip_id: str, scorer: Scorer, settings: ScoreSettings, loader: VideoLoader,
                    plot_dir: str | Path | None) -> VideoScore:
    result = score_video(path, scorer, settings, clip_id, loader)
    if plot_dir is not None and result.ok:
        from unisync_model.scoring.outputs import draw_plot  # the tables' module (pandas): only to plot
        draw_plot(result, plot_dir, scorer.description)
    return result


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


_worker: tuple | None = None


def _start_worker(scorer: Scorer, settings: ScoreSettings, plot_dir: str | Path | None) -> None:
    """A scoring process: one thread for every library that would start a pool (OpenCV, torch; torch only
    where the scorer brought it: the training-free scorer never imports it)."""
    global _worker
    import cv2
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # a later import of torch
        os.environ[variable] = "1"
    if "torch" in sys.modules:  # unpickling a model brought it
        sys.modules["torch"].set_num_threads(1)
    cv2.setNumThreads(1)
    _worker = (scorer, settings, VideoLoader(scorer, settings), plot_dir)


def _score_in_worker(path: str, clip_id: str) -> VideoScore:
    scorer, settings, loader, plot_dir = _worker
    return _score_and_plot(path, clip_id, scorer, settings, loader, plot_dir)
