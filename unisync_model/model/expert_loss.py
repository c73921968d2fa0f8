"""A trained UniSync model as a lip-sync loss for a generator, as Wav2Lip uses its expert.

The expert is frozen (no parameter requires a gradient) and stays in eval mode even when the module
that holds it is put in training mode (its batch norms keep their running statistics). The loss of
a batch of generated windows and their audio windows is the binary cross-entropy of p_sync against
1, i.e. −log p_sync (log clamped at −100, as torch's BCELoss does), averaged over the batch; its
gradient flows to the visual input — the generator's output — and nowhere else.

Inputs are windows exactly as the training shards hold them (`UniSyncConfig.visual_frame` /
`audio_frame`): for the RGB expert, B × 5 × 48 × 96 × 3 float frames in [0, 1], RGB, the lower half
of a 96 × 96 face crop; for a Mel expert, B × 16 × 80 log-Mel frames from `extract.mel.log_mel`
(Wav2Lip's normalisation; the 16 frames from ⌈3.2 s⌉ for a window starting at video frame s, see
`io/av_timing.py`). Landmark and 3DMM experts take their float windows too, and pass gradients to
them; parsing maps are class ids, which have no gradient.

A generator that outputs whole 96 × 96 faces (Wav2Lip's layout: B × 3 × T × H × W, BGR, in [0, 1])
maps to the RGB window with `generator_window` (lower half, RGB order, frames last). The crop must be
framed like the rgb stage's (`extract.rgb.crop_matrix`: a square of 1.15 × the face box's larger
side, centred on the box vertically and on the mouth horizontally); an expert trained on other
framing judges a different picture. Train the expert on crops framed the way the generator's faces
are, or crop the generator's training faces with `crop_matrix`.

Example: one generator step (Wav2Lip's recipe: L1 reconstruction plus a small weight on sync)

    from unisync_model.model.expert_loss import SyncLoss, generator_window

    sync_loss = SyncLoss("models/mel_rgb/model.pt")          # frozen UniSync Mel × RGB expert
    optimiser = torch.optim.Adam(generator.parameters(), lr=1e-4)   # the generator's own parameters

    generator.train()                        # the expert stays in eval mode regardless
    faces = generator(audio_in, reference)   # B × 3 × 5 × 96 × 96, BGR in [0, 1]
    loss = (0.97 * F.l1_loss(faces, target)
            + 0.03 * sync_loss(generator_window(faces), mel_windows))   # mel_windows: B × 16 × 80
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from unisync_model.model.checkpoint import load_model
from unisync_model.model.unisync import UniSync
from unisync_model.settings import WINDOW_FRAMES


def generator_window(faces: torch.Tensor, layout: str = "BCTHW", channels: str = "bgr",
                     size: tuple[int, int] = (48, 96)) -> torch.Tensor:
    """A generator's 5 face frames → the RGB expert's window B × 5 × h × w × 3 (RGB, [0, 1]),
    differentiably: the lower half of each square face (rows H/2 … H), in RGB order, resized
    (bilinear) to `size` = (h, w) when it is not that size already.

    layout: "BCTHW" (Wav2Lip's generator output) or "BTCHW" or "BTHWC"; channels: "bgr" (Wav2Lip
    reads its faces with OpenCV and never converts) or "rgb". The rgb stage's window is (48, 96):
    the lower half of a 96 × 96 crop; pass the expert's `config.visual_frame[:2]` for another size."""
    if faces.ndim != 5:
        raise ValueError(f"expected 5-D faces ({layout}), got {tuple(faces.shape)}")
    order = {"BCTHW": (0, 2, 3, 4, 1), "BTCHW": (0, 1, 3, 4, 2), "BTHWC": (0, 1, 2, 3, 4)}
    if layout not in order:
        raise ValueError(f"unknown layout {layout!r}; known: {sorted(order)}")
    frames = faces.permute(*order[layout])  # B × T × H × W × C
    b, t, h, w, c = frames.shape
    if t != WINDOW_FRAMES or c != 3:
        raise ValueError(f"expected {WINDOW_FRAMES} frames of 3 channels, got T={t}, C={c}")
    lower = frames[:, :, h // 2:]
    if channels == "bgr":
        lower = lower.flip(-1)
    elif channels != "rgb":
        raise ValueError(f"channels must be 'bgr' or 'rgb', not {channels!r}")
    if tuple(lower.shape[2:4]) != tuple(size):
        flat = lower.reshape(b * t, h - h // 2, w, 3).permute(0, 3, 1, 2)
        flat = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False)
        lower = flat.permute(0, 2, 3, 1).reshape(b, t, *size, 3)
    return lower


class SyncLoss(nn.Module):
    """−log p_sync of a frozen UniSync expert, mean over the batch; see the module docstring.

    `expert` is a checkpoint path (read with `checkpoint.load_model`, weights-only) or a UniSync
    model. The expert is a submodule, so `.to(device)` of a parent moves it and the parent's
    state_dict holds its weights under `<name>.expert.`; give the generator's optimiser the
    generator's parameters (the expert's have requires_grad False and never get a gradient)."""

    def __init__(self, expert: str | Path | UniSync, device: torch.device | None = None):
        super().__init__()
        model = expert if isinstance(expert, UniSync) else load_model(expert, device)
        if device is not None:
            model = model.to(device)
        model.requires_grad_(False)
        self.expert = model.eval()

    def train(self, mode: bool = True) -> "SyncLoss":
        super().train(mode)
        self.expert.eval()  # a parent's .train() must not switch the expert's batch norms to batch statistics
        return self

    def _device(self) -> torch.device:
        return next(self.expert.parameters()).device

    def p_sync(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """p_sync per window (B,), differentiable in `visual`."""
        device = self._device()
        if self.expert.training:  # e.g. someone called .train() on the expert itself
            self.expert.eval()
        return self.expert(visual.to(device), audio.to(device))

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        p = self.p_sync(visual, audio)
        return F.binary_cross_entropy(p.clamp(0.0, 1.0), torch.ones_like(p))
