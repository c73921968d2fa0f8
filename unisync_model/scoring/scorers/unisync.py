"""The unisync scorer: a trained UniSync checkpoint (`model/checkpoint.load_model`) as a sync judge.
Its visual and audio representations are computed from the video with the registry's per-clip
functions (the stages' own computations: `representations.py`) and the stage settings given (by
default those of config.yaml), so a clip scores as its shards would. The distance is the Euclidean distance of
L2-normalised embeddings, sqrt(2 − 2 p_sync) (`model/lse.py` says why); windows are the model's 5 frames.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from unisync_model import representations
from unisync_model.io.track_array import segments_of
from unisync_model.scoring.scorers import CONFIDENCE_SCALE, ClipData, SegmentEmbeddings
from unisync_model.settings import WINDOW_FRAMES, StageSettings


class UniSyncScorer:
    """A UniSync checkpoint; its representations computed with the stages' per-clip functions."""

    name = "unisync"
    normalise = True  # model/lse.py: Euclidean distance of L2-normalised embeddings = sqrt(2 − 2 p_sync)
    min_dist_scale = "0 to 2: sqrt(2 - 2 p_sync) at the best shift (0: p_sync = 1, 1.41: p_sync = 0); not SyncNet's"
    confidence_scale = CONFIDENCE_SCALE
    window = WINDOW_FRAMES
    needs_video = False

    def __init__(self, model_path: str | Path, stages: StageSettings | None = None, device=None,
                 batch_size: int = 256):
        from unisync_model.io.device import pick_device
        from unisync_model.model.checkpoint import load_model
        self.device = device or pick_device()
        self.model = load_model(model_path, self.device)
        self.model_path = str(model_path)
        self.audio_rep, self.visual_rep = self.model.config.audio, self.model.config.visual
        self.stages = stages or StageSettings()
        self.batch_size = batch_size
        self.needs = tuple(dict.fromkeys(("tracks", "audio", self.visual_rep, self.audio_rep)))
        self.description = (f"UniSync {self.audio_rep} × {self.visual_rep} ({Path(model_path).name}): Euclidean distance "
                            f"of L2-normalised embeddings, sqrt(2 − 2 p_sync); not SyncNet's scale")
        self._computers: dict[str, Callable[[ClipData], np.ndarray]] = {}

    def _settings(self, name: str):
        """A representation's stage settings: StageSettings' section, or its defaults for a representation
        StageSettings does not name (one added to the registry)."""
        section = getattr(self.stages, name, None)
        return section if section is not None else representations.get(name).settings()

    def _compute(self, name: str, clip: ClipData) -> np.ndarray:
        """A representation of the clip by the registry's per-clip function (made once, models loaded
        once), after the representations it is computed from (parsing's landmarks)."""
        rep, settings = representations.get(name), self._settings(name)
        for source in rep.shards_read(settings):
            if source not in ("tracks", "audio") and source not in clip.arrays:
                clip.arrays[source] = self._compute(source, clip)
        if name not in self._computers:
            self._computers[name] = representations.load(rep.per_clip)(settings, self.device)
        return self._computers[name](clip)

    def prepare(self, clip: ClipData) -> None:
        for stage in (self.visual_rep, self.audio_rep):
            if stage not in clip.arrays:
                clip.arrays[stage] = self._compute(stage, clip)

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        from unisync_model.io.av_timing import window_count
        from unisync_model.model.embed import embed_windows, window_span
        visual, audio = clip.arrays[self.visual_rep], clip.arrays[self.audio_rep]
        out = []
        for start, stop in segments_of(clip.track):
            seg = SegmentEmbeddings(start, stop, first_frame=start)
            windows = window_count(min(stop, len(visual)), len(audio), self.audio_rep) - start
            if windows <= 0:
                seg.reason = (f"segment too short: {stop - start} frames < a {WINDOW_FRAMES}-frame window"
                              if stop - start < WINDOW_FRAMES else "no audio under the segment")
            else:
                (v0, v1), (a0, a1) = window_span(start, windows, self.audio_rep)
                v, a = embed_windows(self.model, visual[v0:v1], audio[a0:a1], start, windows, self.audio_rep,
                                     self.batch_size)
                seg.visual, seg.audio = v.numpy(), a.numpy()
            out.append(seg)
        return out
