"""Wav2Lip's lip-sync expert (SyncNet_color, Prajwal et al. 2020), rebuilt from its published layer
list for counting parameters and operations only (no weights are loaded).

Every layer is a conv block: Conv2d → BatchNorm2d → ReLU, the block's input added before the ReLU
where the layer is residual. Inputs per sample: the lower halves of 5 RGB face crops stacked on
channels, 15 × 48 × 96; a Mel window, 1 × 80 × 16. Both encoders end in 512 × 1 × 1.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# (in, out, kernel, stride, padding, residual), in order
FACE_LAYERS = [
    (15, 32, 7, 1, 3, False), (32, 64, 5, (1, 2), 1, False),
    (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
    (64, 128, 3, 2, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
    (128, 256, 3, 2, 1, False), (256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True),
    (256, 512, 3, 2, 1, False), (512, 512, 3, 1, 1, True), (512, 512, 3, 1, 1, True),
    (512, 512, 3, 2, 1, False), (512, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False),
]
AUDIO_LAYERS = [
    (1, 32, 3, 1, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True),
    (32, 64, 3, (3, 1), 1, False), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
    (64, 128, 3, 3, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
    (128, 256, 3, (3, 2), 1, False), (256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True),
    (256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False),
]
FACE_INPUT = (15, 48, 96)
AUDIO_INPUT = (1, 80, 16)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, kernel, stride, padding, residual: bool):
        super().__init__()
        self.conv, self.norm, self.residual = nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout), residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return F.relu(out + x if self.residual else out)


class Wav2LipExpert(nn.Module):
    def __init__(self):
        super().__init__()
        self.face_encoder = nn.Sequential(*(Block(*layer) for layer in FACE_LAYERS))
        self.audio_encoder = nn.Sequential(*(Block(*layer) for layer in AUDIO_LAYERS))

    def forward(self, face: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """p_sync: the cosine of the two L2-normalised 512-d embeddings (ReLU'd by the last block)."""
        v = F.normalize(self.face_encoder(face).flatten(1), dim=1)
        a = F.normalize(self.audio_encoder(mel).flatten(1), dim=1)
        return F.cosine_similarity(a, v)


def example_inputs(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(batch, *FACE_INPUT), torch.randn(batch, *AUDIO_INPUT)
