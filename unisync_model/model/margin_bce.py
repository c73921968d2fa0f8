"""The margin BCE of the paper (eq. 1): −[y log p + (1 − y) log(1 − max(0, p − m))].

Positives have m = 0; a negative's margin depends on its kind (same speaker or cross speaker), so a
negative already scored at or below its margin costs nothing. The L2 term of the paper is the
optimiser's weight decay.
"""
from __future__ import annotations

import torch

EPS = 1e-7  # keeps log() finite at p = 0 or p - m = 1


def margin_bce(p: torch.Tensor, label: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    p = p.clamp(0.0, 1.0)
    label = label.to(p.dtype)
    positive = label * torch.log(p.clamp(min=EPS))
    negative = (1 - label) * torch.log((1 - torch.clamp(p - margin, min=0.0)).clamp(min=EPS))
    return -(positive + negative).mean()
