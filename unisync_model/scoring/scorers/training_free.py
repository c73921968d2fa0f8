"""The training-free scorer: no learned model, labelled as such in every output. How open the mouth
is (dlib's landmarks) against the loudness of the speech band, both band-passed to the syllable rate
and correlated over sliding windows, so that syncnet_python's aggregation applies unchanged; windows
without speech (silero-vad) count as silent, and a confidence below a threshold answers "uncertain". For
finding gross offsets and checking a pipeline on day one, not a benchmark metric; the recipe, and
the measurements that chose it: docs/scorers.md.
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from unisync_model.io.track_array import segments_of
from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.scoring.scorers import CONFIDENCE_SCALE, ClipData, NoScore, SegmentEmbeddings
from unisync_model.settings import FPS, SAMPLE_RATE, LandmarksSettings, TrainingFreeSettings


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
        gate = " with speech (silero-vad; others count as silent)" if self.settings.speech_gate else ""
        self.description = (
            f"TRAINING-FREE (no learned model): mouth opening from {self.landmarks_settings.backend} landmarks "
            f"× log energy of the {low:g}–{high:g} Hz band, both band-passed to {m_low:g}–{m_high:g} Hz, "
            f"correlated over {self.window}-frame windows{gate}, the mouth compared with the sound "
            f"{self.settings.lead_frames} frame(s) later; distance sqrt(2 − 2 r) (1 = uncorrelated), "
            f"not SyncNet's or UniSync's scale")
        self._modulation = scipy.signal.butter(2, self.settings.modulation_band, btype="bandpass", fs=FPS,
                                               output="sos")
        self._backend = None
        self._speech = None
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

    def __getstate__(self) -> dict:  # for --jobs: each worker loads its own landmark and speech models
        return {**self.__dict__, "_backend": None, "_speech": None}

    def speech_frames(self, samples: np.ndarray, frames: int) -> np.ndarray | None:
        """Which of the first `frames` frames hold speech (silero-vad), or None when not gating."""
        if not self.settings.speech_gate:
            return None
        if self._speech is None:
            from unisync_model.extract.speech_activity import SpeechActivity
            self._speech = SpeechActivity()
        return self._speech.frame_probabilities(samples, frames) >= self.settings.speech_probability

    def prepare(self, clip: ClipData) -> None:
        if "landmarks" not in clip.arrays:
            from unisync_model.extract.landmarks import landmarks_clip
            clip.arrays["landmarks"], _ = landmarks_clip(clip.path, clip.track, self._landmarks_backend())

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        frames = min(clip.frames, clip.audio_frames)
        envelope = speech_envelope(clip.samples, frames, self.settings.speech_band) if frames else np.zeros(0)
        loud = frame_dbfs(clip.samples, frames) >= self.settings.silence_dbfs if frames else np.zeros(0, bool)
        speech = self.speech_frames(clip.samples, frames) if frames else None
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
            lead = min(self.settings.lead_frames, len(mouth) - 1)  # compare the mouth with the sound `lead` later
            mouth = np.concatenate([np.repeat(mouth[:1], lead), mouth[:len(mouth) - lead]])
            visual = unit_windows(zero_phase(mouth, self._modulation), self.window)
            audio = unit_windows(zero_phase(envelope[start:end], self._modulation), self.window)
            heard = np.lib.stride_tricks.sliding_window_view(loud[start:end], self.window).any(axis=1)
            audio[~heard] = 0.0
            seg.visual, seg.audio = visual, audio
            if speech is not None:
                spoken = speech[start:end]
                seg.speech_frames = int(spoken.sum())
                # Gated only where the detector hears at least a window of speech: in a loud segment where
                # it hears less, it is likelier deaf (speech under music, a synthetic voice: a generated
                # clip whose words whisper transcribes scores 0.5 at most) than the segment silent, so
                # the segment is scored as before the gate and its confidence answers.
                if seg.speech_frames >= self.window:
                    share = np.lib.stride_tricks.sliding_window_view(spoken, self.window).mean(axis=1)
                    audio[share < self.settings.min_speech_share] = 0.0  # as silence: votes for no shift
            out.append(seg)
        return out
