"""hubert stage: one hidden state of a HuBERT model at 50 Hz, stored as float16.

Timing: one frame per 320 samples of 16 kHz audio (20 ms), from a 400-sample receptive field. Each clip
is padded with PAD = 40 zero samples on both sides, so frame j sees [320 j - 40, 320 j + 360), centred on
320 j + 160: the centre of [j/50, (j+1)/50) s, the interval that frame j of a 50 Hz stream stands for in
unisync_model.io.av_timing (video frame i ↔ HuBERT frames 2i and 2i+1). A clip of n samples gives
exactly n // 320 frames; the last n % 320 samples (< 20 ms) are left out.

Layer: `settings.layer` indexes transformers' `hidden_states` (0: the transformer's input, k = 1..N: the
output of transformer layer k). The default, 9 for HuBERT-base, is where phonetic content peaks rather
than at the output. Only the first `layer` transformer layers are run.

Input: the waveform as float in [-1, 1], normalised per clip to zero mean and unit variance when the
model's preprocessor_config.json says `do_normalize` (without that file: when the front-end uses layer
norm). Long clips run in equal windows of `chunk_seconds` plus `overlap_seconds` of context on each
side, stitched: this approximates a single pass over the clip, it does not equal it. The model is looked
up offline first ($UNISYNC_WEIGHTS, the unisync cache, the Hugging Face cache), then, unless
$UNISYNC_OFFLINE is set, on the hub (pinned revision and sha256 for KNOWN_WEIGHTS); weights load with
`weights_only=True`, compute is float32, on cuda when there is one.

The timing, normalisation and window arithmetic in full, and the evidence for layer 9:
docs/representations.md#hubert
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unisync_model.extract.stage import SkipClip, run_stage
from unisync_model.io import weights
from unisync_model.io.av_timing import HUBERT_RATE
from unisync_model.io.device import pick_device
from unisync_model.io.optional import require
from unisync_model.io.pcm import pcm16_to_float
from unisync_model.io.shards import ShardReader
from unisync_model.settings import SAMPLE_RATE, HubertSettings, to_dict

log = logging.getLogger(__name__)

HOP = SAMPLE_RATE // HUBERT_RATE  # 320 samples per frame
RECEPTIVE_FIELD = 400  # samples seen by one frame of the conv front-end
PAD = (RECEPTIVE_FIELD - HOP) // 2  # 40 zero samples each side: frame j centred on 320 j + 160

_HF = "https://huggingface.co"
HUBERT_BASE_REVISION = "dba3bb02fda4248b6e082697eee756de8fe8aa8a"

# The files of the models this stage knows, at a pinned revision (sha256 of the LFS objects).
# Keys are "<directory>/<file>": the directory name the resolver looks for in $UNISYNC_WEIGHTS.
KNOWN_WEIGHTS: dict[str, weights.KnownWeights] = {
    "hubert-base-ls960/config.json": weights.KnownWeights(
        f"{_HF}/facebook/hubert-base-ls960/resolve/{HUBERT_BASE_REVISION}/config.json",
        "56be398848bbd9cbc720172b0d45b2f01cac7652f2968f0f31f5faf9f2986acc",
        "HuBERT-base LibriSpeech 960 h, config (Apache-2.0)"),
    "hubert-base-ls960/preprocessor_config.json": weights.KnownWeights(
        f"{_HF}/facebook/hubert-base-ls960/resolve/{HUBERT_BASE_REVISION}/preprocessor_config.json",
        "4a93853b74278b7c769d07f5a861e5d12ceb5db2bced5620d335f87238cb9e86",
        "HuBERT-base LibriSpeech 960 h, feature extractor config (Apache-2.0)"),
    "hubert-base-ls960/pytorch_model.bin": weights.KnownWeights(
        f"{_HF}/facebook/hubert-base-ls960/resolve/{HUBERT_BASE_REVISION}/pytorch_model.bin",
        "062249fffb353eab67547a2fbc129f7c31a2f459faf641b19e8fb007cc5c48ad",
        "HuBERT-base LibriSpeech 960 h, weights, 377,569,754 bytes (Apache-2.0)"),
}
# Hub ids whose download is pinned: id → (revision, the KNOWN_WEIGHTS key of its weights file).
PINNED = {"facebook/hubert-base-ls960": (HUBERT_BASE_REVISION, "hubert-base-ls960/pytorch_model.bin")}


class HubertNotFound(weights.WeightsNotFound):
    pass


def directory_names(model_id: str) -> list[str]:
    """Directory names a local copy of hub id `model_id` may have, e.g. `hubert-base-ls960` and
    `facebook--hubert-base-ls960`."""
    model_id = model_id.strip("/")
    names = [model_id.rsplit("/", 1)[-1]]
    if "/" in model_id:
        names.append(model_id.replace("/", "--"))
    return names


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


@dataclass(frozen=True)
class ModelSource:
    """Where a model was found: what to pass to from_pretrained, and how."""

    ref: str  # a directory, or a hub id
    local_files_only: bool
    where: str  # "directory", "hf-cache" or "hub"
    revision: str | None = None


def find_local_model(name: str) -> tuple[Path | None, list[str]]:
    """A model directory for `name` (a path or a hub id) on disk, and the places looked in."""
    given = Path(name).expanduser()
    if given.is_dir():
        if not _is_model_dir(given):
            raise HubertNotFound(f"{given} has no config.json: not a transformers model directory")
        return given, [str(given)]
    looked = []
    for directory in weights.search_dirs():
        for dirname in directory_names(name):
            candidate = directory / dirname
            if _is_model_dir(candidate):
                return candidate, looked
            looked.append(str(candidate))
    return None, looked


def load_model(name: str, device: torch.device | None = None) -> tuple[Any, dict[str, Any], ModelSource]:
    """The HubertModel for `name` (eval, float32, on `device`), its preprocessor settings ({} when the
    checkpoint has none), and where it was found. Raises HubertNotFound naming the places looked in."""
    HubertModel = require("transformers").HubertModel

    device = device or pick_device()
    local, looked = find_local_model(name)
    attempts: list[ModelSource] = []
    if local is not None:
        attempts.append(ModelSource(str(local), True, "directory"))
    elif not Path(name).expanduser().is_absolute():
        attempts.append(ModelSource(name, True, "hf-cache"))
        if not os.environ.get("UNISYNC_OFFLINE"):
            revision = PINNED.get(name, (None, None))[0]
            attempts.append(ModelSource(name, False, "hub", revision))
    errors = []
    for source in attempts:
        try:
            pinned = {"revision": source.revision} if source.revision else {}
            model = HubertModel.from_pretrained(source.ref, local_files_only=source.local_files_only,
                                                dtype=torch.float32, weights_only=True, **pinned)
        except OSError as err:
            if source.where == "directory":
                raise
            if source.where == "hf-cache":
                from huggingface_hub.constants import HF_HUB_CACHE
                errors.append(f"{HF_HUB_CACHE} (the Hugging Face cache)")
            else:
                errors.append(f"the hub ({str(err).splitlines()[0]})")
            continue
        if source.where == "hub":
            _check_pinned(name, source.revision)
        preprocessor = _preprocessor_config(source)
        return model.to(device=device, dtype=torch.float32).eval(), preprocessor, source
    dirname = directory_names(name)[0]
    where = os.environ.get("UNISYNC_WEIGHTS", "").split(os.pathsep)[0] or str(weights.cache_dir())
    raise HubertNotFound(
        f"HuBERT model {name!r} not found. Looked in: {', '.join(looked + errors) or name}"
        f"{'; the hub was not tried because UNISYNC_OFFLINE is set' if os.environ.get('UNISYNC_OFFLINE') else ''}. "
        f"Put the model directory (config.json, weights, preprocessor_config.json) at {where}/{dirname}, e.g. "
        f"`hf download {name} --local-dir {where}/{dirname}` (huggingface-cli download with older hubs), "
        f"or give its path as hubert.model in config.yaml.")


def _preprocessor_config(source: ModelSource) -> dict[str, Any]:
    """The checkpoint's preprocessor_config.json as a dict, {} when it has none."""
    if source.where == "directory":
        path = Path(source.ref) / "preprocessor_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}
    Wav2Vec2FeatureExtractor = require("transformers").Wav2Vec2FeatureExtractor
    try:
        pinned = {"revision": source.revision} if source.revision else {}
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(
            source.ref, local_files_only=source.local_files_only, **pinned)
    except OSError:
        return {}
    return extractor.to_dict()


def _check_pinned(name: str, revision: str | None) -> None:
    """After a hub download of a pinned id, the weights file must have its known sha256."""
    if name not in PINNED:
        return
    from huggingface_hub import try_to_load_from_cache
    key = PINNED[name][1]
    cached = try_to_load_from_cache(name, key.rsplit("/", 1)[-1], revision=revision)
    if isinstance(cached, str) and weights.sha256_of(Path(cached)) != KNOWN_WEIGHTS[key].sha256:
        raise OSError(f"{cached}: sha256 differs from the pinned {KNOWN_WEIGHTS[key].sha256} of {key}")


def normalise_input(config: Any, preprocessor: dict[str, Any]) -> bool:
    """Whether the waveform is normalised to zero mean, unit variance before the model."""
    if "do_normalize" in preprocessor:
        return bool(preprocessor["do_normalize"])
    return getattr(config, "feat_extract_norm", "group") == "layer"


def check_geometry(config: Any) -> None:
    """The stage relies on a 400-sample receptive field every 320 samples."""
    field, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * stride
        stride *= step
    if (field, stride) != (RECEPTIVE_FIELD, HOP):
        raise ValueError(f"HuBERT front-end with receptive field {field} and stride {stride} samples: this stage "
                         f"needs {RECEPTIVE_FIELD} and {HOP} (50 Hz at 16 kHz)")


def window_starts(frames: int, window: int, core: int) -> list[int]:
    """First output frame of each window of `window` frames covering [0, frames): windows advance by
    `core`; the last one ends at `frames` (so all have the same length)."""
    if frames <= window:
        return [0]
    starts = [0]
    while starts[-1] + window < frames:
        starts.append(min(starts[-1] + core, frames - window))
    return starts


def frame_owners(starts: list[int], window: int, frames: int) -> list[tuple[int, int]]:
    """For each window, the output frames [begin, end) it contributes: the overlap of two neighbours
    is cut in its middle."""
    bounds = [0] + [(nxt + cur + window) // 2 for cur, nxt in zip(starts, starts[1:])] + [frames]
    return list(zip(bounds[:-1], bounds[1:]))


class HubertFeatures:
    """A loaded model that turns 16 kHz float waveforms into (n // 320, hidden) float32 features."""

    def __init__(self, settings: HubertSettings, device: torch.device | None = None):
        if settings.chunk_seconds <= 0 or settings.overlap_seconds < 0 or settings.batch_size < 1:
            raise ValueError(f"hubert: chunk_seconds must be > 0, overlap_seconds >= 0, batch_size >= 1: {settings}")
        self.settings = settings
        self.device = device or pick_device()
        model, preprocessor, self.source = load_model(settings.model, self.device)
        config = model.config
        check_geometry(config)
        if not 0 <= settings.layer <= config.num_hidden_layers:
            raise ValueError(f"hubert.layer {settings.layer} out of range: {settings.model} has hidden states "
                             f"0..{config.num_hidden_layers} (0 = transformer input, k = output of layer k)")
        rate = preprocessor.get("sampling_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{settings.model} expects {rate} Hz audio; this stage feeds {SAMPLE_RATE} Hz")
        self.num_layers = config.num_hidden_layers
        self.hidden_size = config.hidden_size
        self.do_normalize = normalise_input(config, preprocessor)
        # Layers past the one kept cannot change it; keep one so that hidden_states[0] is still captured.
        model.encoder.layers = model.encoder.layers[:max(settings.layer, 1)]
        self.model = model
        self.core = max(1, round(settings.chunk_seconds * HUBERT_RATE))
        self.context = round(settings.overlap_seconds * HUBERT_RATE)
        log.info("hubert: %s (%s), hidden state %d of %d, normalised input: %s, on %s", self.source.ref,
                 self.source.where, settings.layer, self.num_layers, self.do_normalize, self.device)

    def attrs(self) -> dict[str, Any]:
        transformers = require("transformers")
        return {"backend": "transformers", "transformers_version": transformers.__version__,
                "model_source": self.source.ref, "model_found_in": self.source.where,
                "num_hidden_layers": self.num_layers, "hidden_size": self.hidden_size,
                "do_normalize": int(self.do_normalize), "frame_rate": HUBERT_RATE, "hop_samples": HOP,
                "pad_samples": PAD, "device": self.device.type, "settings": to_dict(self.settings)}

    def padded(self, samples: np.ndarray) -> np.ndarray:
        """The model input for a whole clip: normalised as the model expects, PAD zeros each side."""
        x = np.asarray(samples, dtype=np.float32)
        if self.do_normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        return np.pad(x, (PAD, PAD)).astype(np.float32)

    def plan(self, frames: int, chunked: bool = True) -> tuple[int, list[int]]:
        """The window length (frames) and the windows' first frames for a clip of `frames` frames."""
        window = min(self.core + 2 * self.context if chunked else frames, frames)
        return window, window_starts(frames, window, self.core)

    def __call__(self, samples: np.ndarray, chunked: bool = True) -> np.ndarray:
        """(len(samples) // 320, hidden_size) float32; `chunked=False` runs the clip in one pass."""
        frames = len(samples) // HOP
        if frames == 0:
            raise SkipClip(f"audio too short for HuBERT: {len(samples)} samples < {HOP}")
        x = torch.from_numpy(self.padded(samples))
        window, starts = self.plan(frames, chunked)
        out = np.empty((frames, self.hidden_size), np.float32)
        owners = frame_owners(starts, window, frames)
        batch = self.settings.batch_size
        for first in range(0, len(starts), batch):
            group = starts[first:first + batch]
            inputs = torch.stack([x[HOP * s: HOP * (s + window) + 2 * PAD] for s in group]).to(self.device)
            with torch.inference_mode():
                hidden = self.model(inputs, output_hidden_states=True).hidden_states[self.settings.layer]
            hidden = hidden.float().cpu().numpy()
            if hidden.shape[1] != window:
                raise RuntimeError(f"HuBERT gave {hidden.shape[1]} frames for a {window}-frame window")
            for k, start in enumerate(group):
                begin, end = owners[first + k]
                out[begin:end] = hidden[k, begin - start:end - start]
        return out


def extract_hubert(audio_shard: str | Path, out: str | Path, settings: HubertSettings) -> tuple[int, int]:
    audio = ShardReader(audio_shard)
    features = HubertFeatures(settings)

    def process(clip_id: str) -> tuple[np.ndarray, dict]:
        pcm = audio.read(clip_id)
        frames = features(pcm16_to_float(pcm))
        stored = frames.astype(np.float16)
        if not np.isfinite(stored).all():
            raise SkipClip(f"non-finite HuBERT features (float16 range exceeded: max |x| {np.abs(frames).max():.3g})")
        windows = len(features.plan(len(frames))[1])
        return stored, {"samples": int(len(pcm)), "windows": windows, "dropped_samples": int(len(pcm) % HOP)}

    return run_stage(audio.clip_ids, process, out, "hubert", features.attrs(), upstream_skipped=audio.skipped)


def clip_computer(settings: HubertSettings, device=None):
    """One clip's HuBERT features from its samples, the model loaded once (the registry's per-clip function)."""
    features = HubertFeatures(settings, device)
    return lambda clip: features(clip.samples)
