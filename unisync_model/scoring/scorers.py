"""Scorers for `unisync score`: one interface, three backends, each turning one clip into per-window
visual and audio embeddings per face segment, which `score.py` compares at shifts −15…+15 frames
with syncnet_python's LSE-D / LSE-C / AV offset (`sync_metrics.py`).

    scorer.prepare(clip)   compute, from the video, whatever the clip lacks (landmarks, crops, Mel, …)
    scorer.embed(clip)     → one SegmentEmbeddings per face segment: visual and audio, windows × D,
                             or the reason the segment has no score

A `ClipData` holds the clip in memory: the track (tracks stage), the 16 kHz samples, and per-frame
arrays of any stage (`arrays["landmarks"]`, `arrays["rgb"]`, `arrays["mel"]`, …), filled either from
the video (`prepare`) or from the shards the workflow wrote (score.py's shard reader), so a clip is
scored the same way by both routes.

Backends (`make_scorer`):

- **training-free** (`TrainingFreeScorer`): no learned model — labelled as such in every output.
  Visual signal: how open the mouth is in each frame, from dlib's 68 landmarks: the sum of three
  z-scored measures, each divided by the eye distance: the inner-lip gap (`landmarks.mouth_opening`),
  the outer-lip height (points 51–57) and the jaw drop (chin 8 to nose 33). Audio signal: the log RMS
  of the speech band (300–3000 Hz, 4th-order Butterworth, zero phase) in each video frame's 640
  samples. Both are band-passed to the syllable rate (2–8 Hz at 25 fps, zero phase), then cut into
  sliding 15-frame windows (0.6 s, hop 1), each centred and scaled to unit length: the Euclidean
  distance of two such windows is sqrt(2 − 2 r), r their Pearson correlation, so syncnet_python's
  aggregation applies unchanged (LSE-D analogue: the mean distance at the best shift, in [0, 2], 1 =
  uncorrelated; LSE-C analogue: median − minimum of the curve, i.e. how far the correlation peak
  stands above the typical shift). Audio windows whose frames are all below `silence_dbfs` are zero
  vectors (distance 1, like syncnet_python's padding). Measured on the 31 real clips of
  ../shared/data/clips/real (longer than one window; whose own sync nobody verified): the best shift
  falls within ±1 frame of −1 on 18 of them with this recipe, against 6 with the raw inner-lip gap ×
  raw frame RMS over the whole clip, 11–17 with other combinations tried (inner gap alone, jaw alone,
  first differences instead of the 2–8 Hz band, spectral flux, three audio bands, windows of 11–35
  frames). Speech is quasi-periodic (syllables every ~0.2 s), so the curve has side peaks ~6–8 frames
  away that sometimes win (several of the 13 others sit at ±7…±11, some consistently across every
  recipe: possibly real offsets); its confidence is lower when that happens (0.22 vs 0.31 on average).
  Shifting the audio of the clips' first 8 s by −10, −5, +5, +10 frames (ffmpeg) moved the reported
  offset by the shift within ±1 frame in 97 of 124 trials, all four on 19 of the 31 clips; the misses
  are on the music clips, a rap performance, LRS2 clips under 3 s, strong head turns and two more.
  Use it to find gross offsets and to check a pipeline on day one, not as a benchmark metric.
- **unisync** (`UniSyncScorer`): a UniSync checkpoint (`checkpoint.load_model`); its visual and audio
  representations are computed from the video with the stages' own per-clip functions (rgb: the mouth
  crop; landmarks: dlib; parsing: regions from the landmarks or facexlib; tdmm: 3DDFA_V2; mel: librosa;
  hubert: transformers), with the stage settings given (the defaults: those of config.yaml). The
  distance is syncnet_python's on L2-normalised embeddings, sqrt(2 − 2 p_sync) (`sync_metrics.py`);
  windows are the model's own 5 frames.
- **syncnet** (`SyncNetScorer`): syncnet_python's SyncNet (`syncnet.SyncNetExpert`, weights
  `syncnet_v2.model` found by the resolver, or a path), its raw Euclidean distances: the LSE-D /
  LSE-C of talking-face papers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.signal

from unisync_model.extract.stage import SkipClip
from unisync_model.io.media import level_dbfs
from unisync_model.io.track_array import segments_of
from unisync_model.settings import (FPS, SAMPLE_RATE, WINDOW_FRAMES, HubertSettings, LandmarksSettings, MelSettings,
                                    ParsingSettings, RgbSettings, TdmmSettings)

SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
SCORERS = ("training-free", "unisync", "syncnet")


class NoScore(Exception):
    """A clip (or a segment) that cannot be scored; the message is the reason written in its row."""


@dataclass
class ClipData:
    """One clip in memory. `track`: the tracks stage's T × 17 array (segments in its last column);
    `samples`: 16 kHz mono float32 in [-1, 1]; `arrays`: per-frame (or per-feature-frame) arrays of
    other stages, by stage name."""

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
    frames first_frame + k … first_frame + k + window − 1; or `reason` and no embeddings."""

    start: int
    stop: int
    first_frame: int = 0
    visual: np.ndarray | None = None
    audio: np.ndarray | None = None
    reason: str | None = None

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


# ---------------------------------------------------------------------------------------- helpers

def frame_dbfs(samples: np.ndarray, frames: int) -> np.ndarray:
    """RMS level (dBFS) of each video frame's 640 samples, for the first `frames` frames."""
    x = np.asarray(samples, np.float64)[:frames * SAMPLES_PER_FRAME].reshape(frames, SAMPLES_PER_FRAME)
    return 20 * np.log10(np.sqrt((x ** 2).mean(axis=1)) + 1e-10)


def zero_phase(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """scipy's sosfiltfilt, with the edge padding cut down for short signals."""
    default = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    return scipy.signal.sosfiltfilt(sos, x, padlen=min(default, len(x) - 1))


def unit_windows(x: np.ndarray, window: int) -> np.ndarray:
    """Sliding windows (hop 1) of a signal, each centred and scaled to unit length (zero if flat):
    (len(x) − window + 1) × window."""
    w = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), window)
    w = w - w.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.where(norm > 1e-9, w / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------- training-free

@dataclass(frozen=True)
class TrainingFreeSettings:
    window: int = 15  # frames per window (0.6 s): 11–35 measured, 15 best
    speech_band: tuple[float, float] = (300.0, 3000.0)  # Hz, the audio band whose energy is followed
    modulation_band: tuple[float, float] = (2.0, 8.0)  # Hz at 25 fps: both signals keep the syllable rate
    silence_dbfs: float = -55.0  # audio windows whose every frame is quieter carry no information


def mouth_signal(landmarks: np.ndarray) -> np.ndarray:
    """How open the mouth is per frame: z(inner-lip gap) + z(outer-lip height) + z(jaw drop), each
    over the eye distance (scale-free), z-scored over the frames given. NaN frames are interpolated;
    all-NaN raises NoScore."""
    from unisync_model.extract.landmarks import LEFT_EYE, RIGHT_EYE, mouth_opening

    points = np.asarray(landmarks, np.float64)[..., :2]
    eyes = np.linalg.norm(points[:, RIGHT_EYE].mean(axis=1) - points[:, LEFT_EYE].mean(axis=1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        measures = [mouth_opening(points),
                    np.linalg.norm(points[:, 51] - points[:, 57], axis=-1) / eyes,  # outer lips, upper to lower
                    np.linalg.norm(points[:, 8] - points[:, 33], axis=-1) / eyes]  # chin to nose
    total = np.zeros(len(points))
    for m in measures:
        m = np.where(np.isfinite(m), m, np.nan)
        good = np.isfinite(m)
        if not good.any():
            raise NoScore("no landmarks on the face")
        m = np.interp(np.arange(len(m)), np.flatnonzero(good), m[good])
        total += (m - m.mean()) / (m.std() + 1e-9)
    return total


def speech_envelope(samples: np.ndarray, frames: int, band: tuple[float, float]) -> np.ndarray:
    """log RMS of the speech band in each of the first `frames` video frames (640 samples each)."""
    sos = scipy.signal.butter(4, band, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    x = np.asarray(samples, np.float64)[:frames * SAMPLES_PER_FRAME]
    filtered = zero_phase(x, sos) if len(x) > 30 else x
    rms = np.sqrt((filtered.reshape(frames, SAMPLES_PER_FRAME) ** 2).mean(axis=1))
    return np.log(rms + 1e-4)


class TrainingFreeScorer:
    """Mouth opening (dlib landmarks) × speech-band envelope, correlated over sliding windows."""

    name = "training-free"
    normalise = False  # the windows are unit vectors already (zero where flat or silent)
    min_dist_scale = "0 to 2: sqrt(2 - 2r) of the best shift's windows, r their correlation (1 = uncorrelated)"
    confidence_scale = "0 to 2: median minus minimum of the distance curve (higher: the best shift stands out)"
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
            f"correlated over {self.window}-frame windows; distance sqrt(2 − 2 r) (1 = uncorrelated), "
            f"not SyncNet's or UniSync's scale")
        self._modulation = scipy.signal.butter(2, self.settings.modulation_band, btype="bandpass", fs=FPS,
                                               output="sos")
        self._backend = None

    def prepare(self, clip: ClipData) -> None:
        if "landmarks" not in clip.arrays:
            from unisync_model.extract.landmarks import landmarks_clip, make_backend
            if self._backend is None:
                self._backend = make_backend(self.landmarks_settings)
            clip.arrays["landmarks"], _ = landmarks_clip(clip.path, clip.track, self._backend)

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
            try:
                mouth = mouth_signal(clip.arrays["landmarks"][start:end])
            except NoScore as err:
                seg.reason = str(err)
                out.append(seg)
                continue
            visual = unit_windows(zero_phase(mouth, self._modulation), self.window)
            audio = unit_windows(zero_phase(envelope[start:end], self._modulation), self.window)
            heard = np.lib.stride_tricks.sliding_window_view(loud[start:end], self.window).any(axis=1)
            audio[~heard] = 0.0
            seg.visual, seg.audio = visual, audio
            out.append(seg)
        return out


# ----------------------------------------------------------------------------------------- UniSync

@dataclass(frozen=True)
class StageSettings:
    """The settings of the stages a UniSync scorer computes from the video (config.yaml's sections)."""

    rgb: RgbSettings = field(default_factory=RgbSettings)
    landmarks: LandmarksSettings = field(default_factory=LandmarksSettings)
    parsing: ParsingSettings = field(default_factory=ParsingSettings)
    tdmm: TdmmSettings = field(default_factory=TdmmSettings)
    mel: MelSettings = field(default_factory=MelSettings)
    hubert: HubertSettings = field(default_factory=HubertSettings)


def model_representations(path: str | Path) -> tuple[str, str]:
    """(audio, visual) representation names of a UniSync checkpoint, without building the model."""
    import torch
    record = torch.load(path, map_location="cpu", weights_only=True)
    return record["config"]["audio"], record["config"]["visual"]


class UniSyncScorer:
    """A UniSync checkpoint; its representations computed with the stages' per-clip functions."""

    name = "unisync"
    normalise = True  # sync_metrics: Euclidean distance of L2-normalised embeddings = sqrt(2 − 2 p_sync)
    min_dist_scale = "0 to 2: sqrt(2 - 2 p_sync) at the best shift (0: p_sync = 1, 1.41: p_sync = 0); not SyncNet's"
    confidence_scale = "0 to 2: median minus minimum of the distance curve (higher: the best shift stands out)"
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
        self._tools: dict[str, Any] = {}

    def _tool(self, name: str):
        """A loaded extractor, made once."""
        if name not in self._tools:
            if name == "landmarks":
                from unisync_model.extract.landmarks import make_backend
                self._tools[name] = make_backend(self.stages.landmarks)
            elif name == "tdmm":
                from unisync_model.extract.tdmm import TdmmRegressor
                self._tools[name] = TdmmRegressor(self.stages.tdmm, self.device)
            elif name == "hubert":
                from unisync_model.extract.hubert import HubertFeatures
                self._tools[name] = HubertFeatures(self.stages.hubert, self.device)
            elif name == "parser":
                from unisync_model.extract.parsing import load_parser
                self._tools[name] = load_parser(self.stages.parsing, self.device)
        return self._tools[name]

    def _compute(self, stage: str, clip: ClipData) -> np.ndarray:
        if stage == "rgb":
            from unisync_model.extract.rgb import crop_clip
            return crop_clip(clip.path, clip.track, self.stages.rgb)
        if stage == "landmarks":
            from unisync_model.extract.landmarks import landmarks_clip
            return landmarks_clip(clip.path, clip.track, self._tool("landmarks"))[0]
        if stage == "parsing":
            from unisync_model.extract.parsing import parse_clip, parse_landmarks
            if self.stages.parsing.backend == "landmarks":
                if "landmarks" not in clip.arrays:
                    clip.arrays["landmarks"] = self._compute("landmarks", clip)
                return parse_landmarks(clip.arrays["landmarks"], clip.track, self.stages.parsing)[0]
            return parse_clip(clip.path, clip.track, self._tool("parser"), self.stages.parsing)
        if stage == "tdmm":
            from unisync_model.extract.tdmm import clip_params
            return clip_params(clip.path, clip.track, self._tool("tdmm"))[0]
        if stage == "mel":
            from unisync_model.extract.mel import log_mel
            return log_mel(clip.samples, self.stages.mel)
        if stage == "hubert":
            return self._tool("hubert")(clip.samples)
        raise ValueError(f"no per-clip computation for stage {stage!r}")

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


# ----------------------------------------------------------------------------------------- SyncNet

class SyncNetScorer:
    """syncnet_python's SyncNet (syncnet.SyncNetExpert): crops from the video, MFCC from the audio."""

    name = "syncnet"
    normalise = False  # SyncNet's own Euclidean distance, as syncnet_python
    min_dist_scale = ("SyncNet's Euclidean distance at the best shift (LSE-D, unbounded; lower is better; "
                      "syncnet_python's example video: 5.353)")
    confidence_scale = ("SyncNet's median minus minimum distance (LSE-C, >= 0; higher is better; "
                        "syncnet_python's example video: 10.021)")
    window = WINDOW_FRAMES
    needs = ("tracks", "audio")
    needs_video = True  # its 224 × 224 face crops are not a stage: they come from the video

    def __init__(self, weights: str | Path | None = None, device=None):
        from unisync_model.model.syncnet import SYNCNET_FILE, SyncNetExpert
        self.expert = SyncNetExpert(weights or SYNCNET_FILE, device)
        self.description = (f"SyncNet ({Path(str(weights or SYNCNET_FILE)).name}, syncnet_python's): Euclidean "
                            f"distance of its embeddings, the LSE-D / LSE-C of talking-face papers")

    def prepare(self, clip: ClipData) -> None:
        pass

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        if not clip.path:
            raise NoScore("SyncNet needs the video file (its face crops are not a stage)")
        found = {tuple(r["segment"]): r for r in self.expert.embed_clip(clip.path, clip.track, clip.samples)}
        out = []
        for start, stop in segments_of(clip.track):
            seg = SegmentEmbeddings(start, stop, first_frame=start)
            if (start, stop) in found:
                seg.visual = np.asarray(found[(start, stop)]["visual"], np.float32)
                seg.audio = np.asarray(found[(start, stop)]["audio"], np.float32)
            else:
                seg.reason = f"segment too short for SyncNet: {stop - start} frames (needs > {WINDOW_FRAMES})"
            out.append(seg)
        return out


# ---------------------------------------------------------------------------------------- factory

def make_scorer(name: str, model: str | Path | None = None, training_free: TrainingFreeSettings | None = None,
                stages: StageSettings | None = None, device=None, batch_size: int = 256) -> Scorer:
    """A scorer by name: "training-free" (no model), "unisync" (model: a checkpoint), "syncnet"
    (model: the weights file or its name; default syncnet_v2.model through the resolver)."""
    stages = stages or StageSettings()
    if name == "training-free":
        if model:
            raise ValueError("the training-free scorer takes no --model")
        return TrainingFreeScorer(training_free, stages.landmarks)
    if name == "unisync":
        if not model:
            raise ValueError("--scorer unisync needs --model: a UniSync checkpoint (models/<audio>_<visual>/model.pt)")
        return UniSyncScorer(model, stages, device, batch_size)
    if name == "syncnet":
        return SyncNetScorer(model, device)
    raise ValueError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")


__all__ = ["SCORERS", "ClipData", "NoScore", "Scorer", "SegmentEmbeddings", "SkipClip", "StageSettings",
           "SyncNetScorer", "TrainingFreeScorer", "TrainingFreeSettings", "UniSyncScorer", "frame_dbfs",
           "level_dbfs", "make_scorer", "model_representations", "mouth_signal", "speech_envelope",
           "unit_windows"]
