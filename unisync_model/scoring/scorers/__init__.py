"""The scorers behind `unisync score`: one interface, three backends (training_free.py, unisync.py,
syncnet.py; syncnet_python.py is syncnet's whole-frame protocol), each turning a clip into per-window
visual and audio embeddings per face segment, which `scoring.results.score_clip` compares at shifts
−15…+15 frames with syncnet_python's LSE-D / LSE-C / AV offset (`model/lse.py`). One interface so
that every route (videos, shards, the shift study) scores a clip the same way whatever the backend;
how each backend was chosen and measured: docs/scorers.md.

    scorer.prepare(clip)   compute, from the video, whatever the clip lacks (landmarks, crops, Mel, …)
    scorer.embed(clip)     → one SegmentEmbeddings per face segment: visual and audio, windows × D,
                             or the reason the segment has no score
    scorer.tracks_faces    (optional, default True) False: videos.VideoLoader tracks no face and
                           `prepare` gives the clip its track (the whole-frame protocol)

This module imports neither torch nor a backend at import time; `make_scorer` imports the backend it
builds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.settings import ScoreSettings, StageSettings, TrainingFreeSettings, parse_json

SCORERS = ("training-free", "unisync", "syncnet")
# how the syncnet scorer reads a video: "default" (our YuNet tracks, every face segment) or "syncnet_python"
# (its demo_syncnet.py: the whole 224 × 224 frame is the face; scorers/syncnet_python.py)
PROTOCOLS = ("default", "syncnet_python")


class NoScore(Exception):
    """A clip (or a segment) that cannot be scored; the message is the reason written in its row."""


@dataclass
class ClipData:
    """One clip in memory. `track`: the tracks stage's T × 17 array (segments in its last column);
    `samples`: 16 kHz mono float32 in [-1, 1]; `arrays`: per-frame (or per-feature-frame) arrays of
    other stages, by stage name, filled either from the video (`prepare`) or from the shards the
    workflow wrote (`scoring.shard_route`), so a clip is scored the same way by both routes."""

    clip_id: str
    path: str | None = None
    track: np.ndarray | None = None
    samples: np.ndarray | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    audio_stream: int | None = None  # N of the audio stream the samples came from (ffmpeg's 0:a:N), if known

    @property
    def frames(self) -> int:
        return 0 if self.track is None else len(self.track)

    @property
    def audio_frames(self) -> int:
        """Video frames fully covered by the audio (640 samples each)."""
        return 0 if self.samples is None else len(self.samples) // SAMPLES_PER_FRAME


@dataclass
class SegmentEmbeddings:
    """One face segment [start, stop) (video frames): the embeddings of its windows, window k spanning
    frames first_frame + k … first_frame + k + window − 1; or `reason` and no embeddings. A scorer that
    gates by speech says how many of the segment's frames are speech."""

    start: int
    stop: int
    first_frame: int = 0
    visual: np.ndarray | None = None
    audio: np.ndarray | None = None
    reason: str | None = None
    speech_frames: int | None = None  # None: not measured

    @property
    def windows(self) -> int:
        return 0 if self.visual is None else len(self.visual)


class Scorer(Protocol):
    name: str  # one of SCORERS
    description: str  # what it compares and what its distance is: written into every output
    window: int  # frames one window spans (for placing per-window values on the time line)
    normalise: bool  # L2-normalise the embeddings before the distances (syncnet_lse's flag)
    # the scale of the columns named after syncnet_python's (min_dist = LSE-D, confidence = LSE-C)
    min_dist_scale: str
    confidence_scale: str
    needs: tuple[str, ...]  # stages read from shards (besides the manifest): "tracks", "audio", …
    needs_video: bool  # reads the video itself even when the shards are given

    def prepare(self, clip: ClipData) -> None: ...

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]: ...


# the distance scale the training-free and UniSync scorers share for the confidence column
CONFIDENCE_SCALE = "0 to 2: median minus minimum of the distance curve (higher: the best shift stands out)"


def make_scorer(name: str, model: str | Path | None = None, training_free: TrainingFreeSettings | None = None,
                stages: StageSettings | None = None, device=None, batch_size: int = 256,
                protocol: str = "default", jpeg: bool | None = None) -> Scorer:
    """A scorer by name: "training-free" (no model), "unisync" (model: a checkpoint), "syncnet"
    (model: the weights file or its name; default syncnet_v2.model through the resolver). `protocol`
    "syncnet_python" (syncnet only): syncnet_python's protocols (scorers/syncnet_python.py), the whole-frame
    one's frames through JPEG unless `jpeg` is False (None: the protocol's default, True)."""
    stages = stages or StageSettings()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol == "syncnet_python":
        if name != "syncnet":
            raise ValueError(f"--protocol syncnet_python is syncnet_python's own SyncNet protocol: it needs "
                             f"--scorer syncnet (got --scorer {name})")
        from unisync_model.scoring.scorers.syncnet_python import SyncNetPythonScorer
        return SyncNetPythonScorer(model, device, jpeg=True if jpeg is None else jpeg, tracks=stages.tracks)
    if jpeg is not None:
        raise ValueError("--jpeg/--no-jpeg choose how --protocol syncnet_python reads the frames; "
                         "the default protocol has no JPEG step")
    if name == "training-free":
        if model:
            raise ValueError("the training-free scorer takes no --model")
        from unisync_model.scoring.scorers.training_free import TrainingFreeScorer
        return TrainingFreeScorer(training_free, stages.landmarks)
    if name == "unisync":
        if not model:
            raise ValueError("--scorer unisync needs --model: a UniSync checkpoint (models/<audio>_<visual>/model.pt)")
        from unisync_model.scoring.scorers.unisync import UniSyncScorer
        return UniSyncScorer(model, stages, device, batch_size)
    if name == "syncnet":
        from unisync_model.scoring.scorers.syncnet import SyncNetScorer
        return SyncNetScorer(model, device)
    raise ValueError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")


def scorer_from_settings(name: str, model: str | Path | None = None, settings: ScoreSettings | None = None,
                         device=None, protocol: str = "default", jpeg: bool | None = None) -> Scorer:
    """make_scorer with the settings of `unisync score --settings`."""
    settings = settings or ScoreSettings()
    return make_scorer(name, model, training_free=settings.training_free, stages=settings, device=device,
                       batch_size=settings.batch_size, protocol=protocol, jpeg=jpeg)


def settings_from_json(text: str | None) -> ScoreSettings:
    """ScoreSettings from the JSON `--settings` takes (empty: the defaults)."""
    return parse_json(ScoreSettings, text)


__all__ = ["CONFIDENCE_SCALE", "PROTOCOLS", "SCORERS", "ClipData", "NoScore", "Scorer", "SegmentEmbeddings",
           "make_scorer", "scorer_from_settings", "settings_from_json"]
