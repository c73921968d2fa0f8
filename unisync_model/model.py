"""The UniSync model, top to bottom.

    visual window ─ ε1[visual rep] ─ adaptive pool ─ ε2 (shared by every visual rep) ─ ReLU ─┐
                                                                                             cos → p_sync ∈ [0, 1]
    audio window  ─ ε3[audio rep]  ─ adaptive pool ─ ε4 (shared by every audio rep)  ─ ReLU ─┘

ε1 / ε3 adapt one representation to a feature map of a fixed size (reducing big inputs such as
RGB crops, enlarging small ones such as landmarks); ε2 / ε4 are identical for every representation
of their modality. Both embeddings pass through a ReLU, so their cosine lies in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from unisync_model.alignment import MEL_WINDOW
from unisync_model.settings import WINDOW_FRAMES, ModelSettings


@dataclass(frozen=True)
class UniSyncConfig:
    audio: str  # "mel" (hubert, … in later stages)
    visual: str  # "rgb" (parsing, landmarks, tdmm, … in later stages)
    width: int = 64
    embed_dim: int = 512
    visual_pool: tuple[int, int] = (24, 24)
    audio_pool: tuple[int, int] = (16, 16)
    rgb_height: int = 48  # lower half of a 96 × 96 face crop
    rgb_width: int = 96
    n_mels: int = 80

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

class RgbPreprocess(nn.Module):
    """5 RGB mouth crops stacked on channels (15 × 48 × 96) → 2w channels at full height, half width."""

    def __init__(self, c: UniSyncConfig):
        super().__init__()
        w = c.width
        self.layers = nn.Sequential(
            ConvBlock(3 * WINDOW_FRAMES, w, 7, 1, 3),
            ConvBlock(w, 2 * w, 5, (1, 2), 2),
            ConvBlock(2 * w, 2 * w, 3, 1, 1, residual=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: B × 5 × H × W × 3 uint8 or float in [0, 1]
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        b, t, h, w, ch = x.shape
        return self.layers(x.permute(0, 1, 4, 2, 3).reshape(b, t * ch, h, w))


VISUAL_PREPROCESS = {"rgb": RgbPreprocess}


# ---------------------------------------------------------------- ε3: one per audio representation

class MelPreprocess(nn.Module):
    """16 Mel frames × 80 bins as a 1-channel image (80 × 16) → 2w channels."""

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
        # x: B × 16 × 80 (time × bins) → B × 1 × 80 × 16 (bins as height, like Wav2Lip's expert)
        return self.layers(x.transpose(1, 2).unsqueeze(1))


AUDIO_PREPROCESS = {"mel": MelPreprocess}


# ---------------------------------------------------------------- ε2 / ε4: shared extractors

def shared_extractor(width: int, embed_dim: int, pooled: tuple[int, int]) -> nn.Sequential:
    """2w channels at `pooled` size → embed_dim × 1 × 1, halving the size until it is at most 3 × 3."""
    layers: list[nn.Module] = []
    channels, (h, w) = 2 * width, pooled
    while max(h, w) > 3:
        out = min(channels * 2, 8 * width)
        layers += [ConvBlock(channels, out, 3, 2, 1), ConvBlock(out, out, 3, 1, 1, residual=True)]
        channels, h, w = out, (h + 1) // 2, (w + 1) // 2
    layers += [ConvBlock(channels, embed_dim, (h, w), 1, 0), nn.Flatten()]
    return nn.Sequential(*layers)


class UniSync(nn.Module):
    def __init__(self, config: UniSyncConfig):
        super().__init__()
        if config.visual not in VISUAL_PREPROCESS:
            raise ValueError(f"unknown visual representation {config.visual!r}; known: {sorted(VISUAL_PREPROCESS)}")
        if config.audio not in AUDIO_PREPROCESS:
            raise ValueError(f"unknown audio representation {config.audio!r}; known: {sorted(AUDIO_PREPROCESS)}")
        self.config = config
        self.visual_preprocess = VISUAL_PREPROCESS[config.visual](config)  # ε1
        self.visual_pool = nn.AdaptiveAvgPool2d(config.visual_pool)
        self.visual_extractor = shared_extractor(config.width, config.embed_dim, config.visual_pool)  # ε2
        self.audio_preprocess = AUDIO_PREPROCESS[config.audio](config)  # ε3
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
    """Random inputs of the right shape, for tests and benchmarks."""
    visual = {"rgb": torch.rand(batch, WINDOW_FRAMES, config.rgb_height, config.rgb_width, 3)}[config.visual]
    audio = {"mel": torch.randn(batch, MEL_WINDOW, config.n_mels)}[config.audio]
    return visual, audio
