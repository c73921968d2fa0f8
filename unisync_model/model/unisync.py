"""The UniSync model, top to bottom.

    visual window ─ ε1[visual rep] ─ adaptive pool ─ ε2 (shared by every visual rep) ─ ReLU ─┐
                                                                                             cos → p_sync ∈ [0, 1]
    audio window  ─ ε3[audio rep]  ─ adaptive pool ─ ε4 (shared by every audio rep)  ─ ReLU ─┘

ε1 / ε3 adapt one representation to a feature map of a fixed size (reducing big inputs such as
RGB crops, enlarging small ones such as landmarks); ε2 / ε4 are identical for every representation
of their modality. Both embeddings pass through a ReLU, so their cosine lies in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from unisync_model import representations
from unisync_model.io.av_timing import audio_features
from unisync_model.representations import AUDIO, VISUAL
from unisync_model.settings import WINDOW_FRAMES, ModelSettings

# The layer layout's version, saved in every checkpoint (model/checkpoint.py refuses another one).
# 1: a stride-2 and a residual block per halving of the pooled map (22.4 M parameters with Mel × RGB
#    at width 64). 2: residual blocks only on maps of at least 6 × 6, the pooled one included (15.6 M).
ARCHITECTURE = 2
ARCHITECTURE_CHANGES = {
    2: "the shared extractors ε2 / ε4 lost their residual blocks on maps under 6 × 6 (ε2's on 3 × 3, ε4's on "
       "4 × 4 and 2 × 2, 8w channels each) and gained one on the pooled map: Mel × RGB at width 64 went from "
       "22.4 M to 15.6 M parameters (docs/model.md)",
}
PARSING_CLASSES = 19  # facexlib's face-parsing layout (extract/parsing.py)
TDMM_EXPRESSION = slice(52, 62)  # 3DDFA_V2's 62 parameters: 12 pose, 40 shape, then 10 expression


@dataclass(frozen=True)
class UniSyncConfig:
    audio: str  # "mel" or "hubert"
    visual: str  # "rgb", "parsing", "landmarks" or "tdmm"
    width: int = 64
    embed_dim: int = 512
    visual_pool: tuple[int, int] = (24, 24)
    audio_pool: tuple[int, int] = (16, 16)
    # one frame's shape in the shard (a config may give others than the registry's defaults, e.g. a
    # different crop size or HuBERT-large's 1024 features); () takes the registry's
    visual_frame: tuple[int, ...] = ()
    audio_frame: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name, modality, frame in ((self.visual, VISUAL, "visual_frame"), (self.audio, AUDIO, "audio_frame")):
            if name not in representations.names(modality):
                raise ValueError(f"unknown {modality} representation {name!r}; "
                                 f"known: {sorted(representations.names(modality))}")
            if not getattr(self, frame):
                object.__setattr__(self, frame, representations.get(name).frame_shape)

    @classmethod
    def from_settings(cls, audio: str, visual: str, settings: ModelSettings, **shapes) -> "UniSyncConfig":
        return cls(audio=audio, visual=visual, width=settings.width, embed_dim=settings.embed_dim,
                   visual_pool=tuple(settings.visual_pool), audio_pool=tuple(settings.audio_pool), **shapes)


class ConvBlock(nn.Module):
    """Conv2d → BatchNorm → ReLU, with an identity shortcut when `residual` (shapes must then match)."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0, residual: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding)
        self.norm = nn.BatchNorm2d(cout)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        if self.residual:
            out = out + x
        return F.relu(out)


# ---------------------------------------------------------------- ε1: one per visual representation

class ImagePreprocess(nn.Module):
    """5 frames of an image-like representation stacked on channels → 2w channels at full height,
    half width (the big inputs are reduced by the pooling that follows)."""

    def __init__(self, channels_in: int, c: UniSyncConfig):
        super().__init__()
        w = c.width
        self.layers = nn.Sequential(
            ConvBlock(channels_in, w, 7, 1, 3),
            ConvBlock(w, 2 * w, 5, (1, 2), 2),
            ConvBlock(2 * w, 2 * w, 3, 1, 1, residual=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class RgbPreprocess(ImagePreprocess):
    """RGB mouth crops: B × 5 × H × W × 3 (uint8, or float in [0, 1]) → 15 channels."""

    def __init__(self, c: UniSyncConfig):
        super().__init__(3 * WINDOW_FRAMES, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        b, t, h, w, ch = x.shape
        return super().forward(x.permute(0, 1, 4, 2, 3).reshape(b, t * ch, h, w))


class ParsingPreprocess(ImagePreprocess):
    """Face-parsing class maps: B × 5 × H × W class ids → one channel per class and frame."""

    def __init__(self, c: UniSyncConfig):
        super().__init__(PARSING_CLASSES * WINDOW_FRAMES, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w = x.shape
        one_hot = F.one_hot(x.long().clamp(0, PARSING_CLASSES - 1), PARSING_CLASSES)  # B × 5 × H × W × K
        return super().forward(one_hot.permute(0, 1, 4, 2, 3).reshape(b, t * PARSING_CLASSES, h, w).float())


class VectorPreprocess(nn.Module):
    """A small vector per frame (landmarks, 3DMM) → a 2w-channel map at the pooled size: a linear
    layer to a 6 × 6 map, then two upsampling convolutions (the paper enlarges small inputs here)."""

    def __init__(self, features: int, c: UniSyncConfig):
        super().__init__()
        self.seed_channels = 64
        self.project = nn.Sequential(nn.Linear(WINDOW_FRAMES * features, self.seed_channels * 36),
                                     nn.BatchNorm1d(self.seed_channels * 36), nn.ReLU())
        self.grow = nn.Sequential(
            nn.Upsample(scale_factor=2), ConvBlock(self.seed_channels, 2 * c.width, 3, 1, 1),
            nn.Upsample(size=c.visual_pool), ConvBlock(2 * c.width, 2 * c.width, 3, 1, 1, residual=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grow(self.project(x.flatten(1)).view(len(x), self.seed_channels, 6, 6))


class FramesPreprocess(VectorPreprocess):
    """Any small per-frame array taken as it is (its elements are the features): the ε1 of a visual
    representation that needs no normalisation of its own (docs/architecture.md)."""

    def __init__(self, c: UniSyncConfig):
        super().__init__(math.prod(c.visual_frame), c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


class LandmarksPreprocess(VectorPreprocess):
    """68 points per frame (pixels): centred on the window's mean point and scaled by its spread, so
    where the face is and how big it is do not matter, only the shape and its motion."""

    def __init__(self, c: UniSyncConfig):
        super().__init__(2 * c.visual_frame[0], c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        centred = x - x.mean(dim=(1, 2), keepdim=True)
        spread = centred.pow(2).sum(-1).mean(dim=(1, 2), keepdim=True).sqrt().unsqueeze(-1)
        return super().forward(centred / spread.clamp_min(1e-6))


class TdmmPreprocess(VectorPreprocess):
    """3DDFA_V2's parameters: only the 10 expression coefficients feed the model (the mouth moves
    there; pose and identity shape carry no sync information and would let the model key on who and
    where the speaker is). A batch norm brings them to one scale."""

    def __init__(self, c: UniSyncConfig):
        features = TDMM_EXPRESSION.stop - TDMM_EXPRESSION.start
        super().__init__(features, c)
        self.scale = nn.BatchNorm1d(WINDOW_FRAMES * features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.scale(x.float()[:, :, TDMM_EXPRESSION].flatten(1)))




# ---------------------------------------------------------------- ε3: one per audio representation

class SpectrogramPreprocess(nn.Module):
    """A window of feature frames as a 1-channel image, features as height (like Wav2Lip's expert's
    Mel input) → 2w channels, height halved."""

    def __init__(self, c: UniSyncConfig):
        super().__init__()
        w = c.width
        self.layers = nn.Sequential(
            ConvBlock(1, w, 3, 1, 1),
            ConvBlock(w, w, 3, 1, 1, residual=True),
            ConvBlock(w, 2 * w, 3, (2, 1), 1),
            ConvBlock(2 * w, 2 * w, 3, 1, 1, residual=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: B × frames × features → B × 1 × features × frames
        return self.layers(x.float().transpose(1, 2).unsqueeze(1))


class MelPreprocess(SpectrogramPreprocess):
    """16 Mel frames × 80 bins (80 × 16 image)."""


class HubertPreprocess(SpectrogramPreprocess):
    """10 HuBERT frames × 768 features: normalised and projected to 128 features per frame first
    (HuBERT's features are many and not ordered like frequencies), then as for Mel (128 × 10)."""

    def __init__(self, c: UniSyncConfig):
        super().__init__(c)
        self.project = nn.Sequential(nn.LayerNorm(c.audio_frame[0]), nn.Linear(c.audio_frame[0], 128), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.project(x.float()))




# ---------------------------------------------------------------- ε2 / ε4: shared extractors

def shared_extractor(width: int, embed_dim: int, pooled: tuple[int, int]) -> nn.Sequential:
    """2w channels at `pooled` size → embed_dim × 1 × 1 (layer layout ARCHITECTURE, docs/model.md).

    A residual block refines every map whose sides are both at least twice the 3 × 3 kernel (6 × 6:
    smaller maps are mostly padding to it), starting with the pooled map itself; a stride-2 block
    halves the map, doubling the channels up to 8w, until it is at most 3 × 3; one block over the
    whole last map gives the embedding. 24 × 24: residuals at 24, 12, 6, halvings to 3; 16 × 16:
    residuals at 16, 8, halvings to 2. Mel × RGB at width 64: 15.6 M parameters, 1.70 G MACs
    (paper Table III: 16.3 M, 1.73 G; bench/RESULTS.md (d))."""
    layers: list[nn.Module] = []
    channels, (h, w) = 2 * width, pooled
    while True:
        if min(h, w) >= 6:
            layers.append(ConvBlock(channels, channels, 3, 1, 1, residual=True))
        if max(h, w) <= 3:
            break
        out = min(channels * 2, 8 * width)
        layers.append(ConvBlock(channels, out, 3, 2, 1))
        channels, h, w = out, (h + 1) // 2, (w + 1) // 2
    layers += [ConvBlock(channels, embed_dim, (h, w), 1, 0), nn.Flatten()]
    return nn.Sequential(*layers)


class UniSync(nn.Module):
    def __init__(self, config: UniSyncConfig):
        super().__init__()
        self.config = config
        self.visual_preprocess = representations.load(representations.get(config.visual).preprocess)(config)  # ε1
        self.visual_pool = nn.AdaptiveAvgPool2d(config.visual_pool)
        self.visual_extractor = shared_extractor(config.width, config.embed_dim, config.visual_pool)  # ε2
        self.audio_preprocess = representations.load(representations.get(config.audio).preprocess)(config)  # ε3
        self.audio_pool = nn.AdaptiveAvgPool2d(config.audio_pool)
        self.audio_extractor = shared_extractor(config.width, config.embed_dim, config.audio_pool)  # ε4

    def embed_visual(self, visual: torch.Tensor) -> torch.Tensor:
        return F.relu(self.visual_extractor(self.visual_pool(self.visual_preprocess(visual))))

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        return F.relu(self.audio_extractor(self.audio_pool(self.audio_preprocess(audio))))

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """p_sync per pair, in [0, 1]."""
        return F.cosine_similarity(self.embed_visual(visual), self.embed_audio(audio), dim=1, eps=1e-8)


def example_inputs(config: UniSyncConfig, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs of the right shape and type, for tests and benchmarks."""
    shape = (batch, WINDOW_FRAMES, *config.visual_frame)
    visual = {"rgb": lambda: torch.rand(shape),
              "parsing": lambda: torch.randint(0, PARSING_CLASSES, shape, dtype=torch.uint8),
              "landmarks": lambda: torch.rand(shape) * 100,
              "tdmm": lambda: torch.randn(shape)}.get(config.visual, lambda: torch.randn(shape))()
    audio = torch.randn(batch, audio_features(config.audio)[1], *config.audio_frame)
    return visual, audio
