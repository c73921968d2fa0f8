"""The training-free scorer: no learned model, labelled as such in every output. How open the mouth
is (dlib's landmarks) against the loudness of the speech band, both band-passed to the syllable rate
and correlated over sliding windows, so that syncnet_python's aggregation applies unchanged (windows
without speech are left out by every scorer's gate, scoring/speech_gate.py); a confidence below a
threshold answers "uncertain". For
finding gross offsets and checking a pipeline on day one, not a benchmark metric; the recipe, and
the measurements that chose it: docs/scorers.md.
"""
from __future__ import annotations

import numpy as np

from unisync_model.extract.mouth_sync import (  # the signals, below scoring for the tracks stage's use
    NoMouth,
    frame_dbfs,
    modulation_filter,
    segment_windows,
    speech_envelope,
)
from unisync_model.io.track_array import segments_of
from unisync_model.scoring.scorers import CONFIDENCE_SCALE, ClipData, SegmentEmbeddings
from unisync_model.settings import LandmarksSettings, TrainingFreeSettings


class TrainingFreeScorer:
    """Mouth opening (dlib landmarks) × speech-band envelope, correlated over sliding windows."""

    name = "training-free"
    normalise = False  # the windows are unit vectors already (zero where flat or silent)
    min_dist_scale = "0 to 2: sqrt(2 - 2r) of the best shift's windows, r their correlation (1 = uncorrelated)"
    confidence_scale = CONFIDENCE_SCALE
    needs = ("tracks", "audio", "landmarks")
    needs_video = False

    def __init__(self, settings: TrainingFreeSettings | None = None,
                 landmarks_settings: LandmarksSettings | None = None):
        self.settings = settings or TrainingFreeSettings()
        self.landmarks_settings = landmarks_settings or LandmarksSettings()
        self.window = self.settings.window
        low, high = self.settings.speech_band
        m_low, m_high = self.settings.modulation_band
        self.description = (
            f"TRAINING-FREE (no learned model): mouth opening from {self.landmarks_settings.backend} landmarks "
            f"× log energy of the {low:g}–{high:g} Hz band, both band-passed to {m_low:g}–{m_high:g} Hz, "
            f"correlated over {self.window}-frame windows, the mouth compared with the sound "
            f"{self.settings.lead_frames} frame(s) later; distance sqrt(2 − 2 r) (1 = uncorrelated), "
            f"not SyncNet's or UniSync's scale")
        self._modulation = modulation_filter(self.settings)
        self._backend = None
        self.uncertain_below = self.settings.uncertain_below

    def frame_reader(self):
        """The landmarks computed while the tracks stream past (dlib, which reads the decoded luma), or None
        (FAN: `prepare` decodes the clip again)."""
        from unisync_model.extract.landmarks import TrackedLandmarks
        backend = self._landmarks_backend()
        return TrackedLandmarks(backend) if backend.reads == "luma" else None

    def _landmarks_backend(self):
        if self._backend is None:
            from unisync_model.extract.landmarks import make_backend
            self._backend = make_backend(self.landmarks_settings)
        return self._backend

    def __getstate__(self) -> dict:  # for --jobs: each worker loads its own landmark model
        return {**self.__dict__, "_backend": None}

    def prepare(self, clip: ClipData) -> None:
        if "landmarks" not in clip.arrays:
            from unisync_model.extract.landmarks import landmarks_clip
            clip.arrays["landmarks"], _ = landmarks_clip(clip.path, clip.track, self._landmarks_backend())

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        frames = min(clip.frames, clip.audio_frames)
        envelope = speech_envelope(clip.samples, frames, self.settings.speech_band) if frames else np.zeros(0)
        loud = frame_dbfs(clip.samples, frames) >= self.settings.silence_dbfs if frames else np.zeros(0, bool)
        out = []
        for start, stop in segments_of(clip.track):
            seg = SegmentEmbeddings(start, stop, first_frame=start)
            end = min(stop, frames)  # frames with both video and audio
            if end - start < self.window:
                seg.reason = (f"segment too short: {end - start} frames with audio < a {self.window}-frame window"
                              if stop - start >= self.window else
                              f"segment too short: {stop - start} frames < a {self.window}-frame window")
                out.append(seg)
                continue
            try:  # the mouth compared with the sound lead_frames later; audio windows with no loud frame: zero
                seg.visual, seg.audio = segment_windows(clip.arrays["landmarks"][start:end], envelope[start:end],
                                                        loud[start:end], self.window, self.settings.lead_frames,
                                                        self._modulation)
            except NoMouth as err:
                seg.reason = str(err)
                out.append(seg)
                continue
            out.append(seg)
        return out
