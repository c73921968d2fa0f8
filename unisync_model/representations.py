"""The registry of representations: for each audio and visual representation, everything the layers
above need to know about it, in one entry, so that adding one is one new module and one entry.

An entry names its code by "module:attribute" strings, resolved (`load`) only by the layer that
uses that piece: extraction calls the `extractor`, the model builds the `preprocess` network (its
ε1 or ε3), scoring calls `per_clip` to compute it from a video, the figures call `panel`. So this
module sits at the bottom of the package (it imports settings only) and no layer imports another
through it. docs/architecture.md walks through adding a representation.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from unisync_model import settings as S

VISUAL, AUDIO = "visual", "audio"


@dataclass(frozen=True)
class Representation:
    name: str  # its stage, its shard folder, its config.yaml section and its `unisync` command
    modality: str  # VISUAL or AUDIO
    settings: type  # its settings dataclass in settings.py
    frame_shape: tuple[int, ...]  # one frame in its shard with the default settings (a shard records its own)
    summary: str  # what one frame holds: the command's help
    extractor: str  # "module:function" writing a shard: (clips, *input shards, out, settings) for a visual
    # representation, (input shard, out, settings) for an audio one
    per_clip: str  # "module:function": (settings, device) → a callable turning one clip (path, track, samples,
    # arrays) into its array; the scorers compute a representation from a video with it
    preprocess: str  # "module:class": its ε1 (visual) or ε3 (audio), built from a UniSyncConfig
    inputs: tuple[str, ...] = ("tracks",)  # the shards its extractor reads, in argument order
    optional_inputs: tuple[str, ...] = ()  # of those, the ones only some settings read (passed as None otherwise)
    reads: Callable[[Any], tuple[str, ...]] | None = None  # the shards it reads under given settings (default: inputs)
    gpu: Callable[[Any], bool] = field(default=lambda settings: False)  # whether these settings want a GPU
    panel: str | None = None  # "module:function" drawing one frame of it for `unisync visualize`
    rate: int = 0  # audio: feature frames per second (a 5-frame video window holds 5 × rate / 25 of them)

    def shards_read(self, settings: Any) -> tuple[str, ...]:
        return self.reads(settings) if self.reads is not None else self.inputs


REGISTRY: dict[str, Representation] = {}


def register(representation: Representation) -> Representation:
    if representation.modality not in (VISUAL, AUDIO):
        raise ValueError(f"{representation.name}: modality must be {VISUAL!r} or {AUDIO!r}")
    REGISTRY[representation.name] = representation
    return representation


def get(name: str) -> Representation:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown representation {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names(modality: str | None = None) -> list[str]:
    return [n for n, r in REGISTRY.items() if modality is None or r.modality == modality]


def load(reference: str) -> Any:
    """The object a "module:attribute" reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


register(Representation(
    name="rgb", modality=VISUAL, settings=S.RgbSettings, frame_shape=(48, 96, 3),
    summary="Crop the lower half of the face in every frame (RGB, uint8).",
    extractor="unisync_model.extract.rgb:extract_rgb", per_clip="unisync_model.extract.rgb:clip_computer",
    preprocess="unisync_model.model.unisync:RgbPreprocess",
    panel="unisync_model.reporting.visualize:rgb_panel"))
register(Representation(
    name="parsing", modality=VISUAL, settings=S.ParsingSettings, frame_shape=(48, 96),
    summary="A face-parsing class map per frame, over the lower half of the face crop.",
    extractor="unisync_model.extract.parsing:extract_parsing",
    per_clip="unisync_model.extract.parsing:clip_computer",
    preprocess="unisync_model.model.unisync:ParsingPreprocess",
    inputs=("tracks", "landmarks"), optional_inputs=("landmarks",),
    reads=lambda settings: ("tracks", "landmarks") if settings.backend == "landmarks" else ("tracks",),
    gpu=lambda settings: settings.backend == "facexlib",
    panel="unisync_model.reporting.visualize:parsing_panel"))
register(Representation(
    name="landmarks", modality=VISUAL, settings=S.LandmarksSettings, frame_shape=(68, 2),
    summary="68 facial landmarks per frame (dlib or face-alignment's FAN), in frame pixels.",
    extractor="unisync_model.extract.landmarks:extract_landmarks",
    per_clip="unisync_model.extract.landmarks:clip_computer",
    preprocess="unisync_model.model.unisync:LandmarksPreprocess",
    gpu=lambda settings: settings.backend == "fan"))
register(Representation(
    name="tdmm", modality=VISUAL, settings=S.TdmmSettings, frame_shape=(62,),
    summary="3DMM parameters per frame (3DDFA_V2: 12 pose, 40 shape, 10 expression).",
    extractor="unisync_model.extract.tdmm:extract_tdmm", per_clip="unisync_model.extract.tdmm:clip_computer",
    preprocess="unisync_model.model.unisync:TdmmPreprocess",
    panel="unisync_model.reporting.visualize:tdmm_panel"))
register(Representation(
    name="mel", modality=AUDIO, settings=S.MelSettings, frame_shape=(80,),
    summary="Log-Mel spectrogram at 80 Hz from an audio shard.",
    extractor="unisync_model.extract.mel:extract_mel", per_clip="unisync_model.extract.mel:clip_computer",
    preprocess="unisync_model.model.unisync:MelPreprocess", inputs=("audio",),
    rate=S.SAMPLE_RATE // S.MEL_HOP))  # 80 Hz
register(Representation(
    name="hubert", modality=AUDIO, settings=S.HubertSettings, frame_shape=(768,),
    summary="HuBERT features at 50 Hz (float16) from an audio shard.",
    extractor="unisync_model.extract.hubert:extract_hubert", per_clip="unisync_model.extract.hubert:clip_computer",
    preprocess="unisync_model.model.unisync:HubertPreprocess", inputs=("audio",),
    rate=50))  # HuBERT's convolutional front end hops 320 samples at 16 kHz
