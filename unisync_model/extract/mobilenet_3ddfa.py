"""The MobileNetV1 regressor of 3DDFA_V2 (Guo et al., "Towards Fast, Accurate and Stable 3D Dense
Face Alignment", ECCV 2020), written from its published layer layout so that upstream's checkpoints
(`weights/mb1_120x120.pth`, `weights/mb05_120x120.pth`) load with strict=True.

Layout (widen factor w: 1.0 for mb1, 0.5 for mb05; channel counts are int(c · w)):
  conv1 3×3 stride 2 (3 → 32w, no bias) + bn1 + ReLU, then 13 depthwise-separable blocks named
  dw2_1 … dw6, each a 3×3 depthwise conv (conv_dw, bn_dw, ReLU) and a 1×1 pointwise conv (conv_sep,
  bn_sep, ReLU), global average pooling and the linear heads:
  fc_param (1024w → 62: the normalised 3DMM parameters) and, in the released checkpoints, fc_lm
  (1024w → 136), an auxiliary head of training (68 landmarks × 2) that upstream's inference code
  drops. It is built only when the checkpoint holds it, so either form loads strictly.

Checkpoint format upstream: {'state_dict': {'module.' + key: tensor}, ...} (saved from DataParallel),
read here with torch.load(weights_only=True); upstream's inference-time class names the parameter head
`fc`, which is accepted as well.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

WIDEN = {"mb1": 1.0, "mb05": 0.5}
N_PARAMS = 62
N_LANDMARK_OUTPUTS = 136

# (name, input channels, output channels, stride) at widen factor 1
BLOCKS = [("dw2_1", 32, 64, 1), ("dw2_2", 64, 128, 2),
          ("dw3_1", 128, 128, 1), ("dw3_2", 128, 256, 2),
          ("dw4_1", 256, 256, 1), ("dw4_2", 256, 512, 2),
          ("dw5_1", 512, 512, 1), ("dw5_2", 512, 512, 1), ("dw5_3", 512, 512, 1),
          ("dw5_4", 512, 512, 1), ("dw5_5", 512, 512, 1), ("dw5_6", 512, 1024, 2),
          ("dw6", 1024, 1024, 1)]


class SeparableBlock(nn.Module):
    """Depthwise 3×3 then pointwise 1×1 convolution, each with batch norm and ReLU."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(channels_in, channels_in, 3, stride=stride, padding=1, groups=channels_in, bias=False)
        self.bn_dw = nn.BatchNorm2d(channels_in)
        self.conv_sep = nn.Conv2d(channels_in, channels_out, 1, bias=False)
        self.bn_sep = nn.BatchNorm2d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn_dw(self.conv_dw(x)))
        return torch.relu(self.bn_sep(self.conv_sep(x)))


class MobileNet3DDFA(nn.Module):
    """120 × 120 BGR face crop, normalised (x − 127.5) / 128, N × 3 × 120 × 120 → N × 62 normalised
    3DMM parameters (de-normalise with the checkpoint's mean and std)."""

    def __init__(self, widen: float = 1.0, landmark_head: bool = True):
        super().__init__()
        self.widen = widen
        width = lambda c: int(c * widen)  # noqa: E731
        self.conv1 = nn.Conv2d(3, width(32), 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width(32))
        for name, c_in, c_out, stride in BLOCKS:
            self.add_module(name, SeparableBlock(width(c_in), width(c_out), stride))
        self.fc_param = nn.Linear(width(1024), N_PARAMS)
        self.fc_lm = nn.Linear(width(1024), N_LANDMARK_OUTPUTS) if landmark_head else None
        for module in self.modules():  # upstream's initialisation (He normal for the convolutions)
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        for name, *_ in BLOCKS:
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_param(self.features(x))


def upstream_state_dict(model: MobileNet3DDFA) -> dict:
    """The model in upstream's checkpoint format (what `load_mobilenet` reads)."""
    return {"state_dict": {"module." + k: v.detach().cpu() for k, v in model.state_dict().items()}}


def load_mobilenet(path: str | Path, arch: str) -> MobileNet3DDFA:
    """A 3DDFA_V2 checkpoint → the model in eval mode on the CPU, every tensor of the file used
    (strict). Never unpickles objects: weights_only=True."""
    if arch not in WIDEN:
        raise ValueError(f"unknown 3DDFA_V2 arch {arch!r}; known: {sorted(WIDEN)}")
    record = torch.load(path, map_location="cpu", weights_only=True)
    state = record.get("state_dict", record) if isinstance(record, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a 3DDFA_V2 checkpoint (expected a dict with 'state_dict')")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {("fc_param." + k[3:] if k.startswith("fc.") else k): v for k, v in state.items()}
    model = MobileNet3DDFA(WIDEN[arch], landmark_head="fc_lm.weight" in state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        found = state.get("conv1.weight")
        hint = (f" (its first layer has {found.shape[0]} channels: arch "
                f"{[a for a, w in WIDEN.items() if int(32 * w) == found.shape[0]] or '?'}, not {arch!r}?)"
                if found is not None and found.shape[0] != int(32 * WIDEN[arch]) else "")
        raise ValueError(f"{path}: does not fit the 3DDFA_V2 MobileNet {arch}{hint}: {err}") from None
    return model.eval()
