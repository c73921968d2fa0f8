"""SyncLoss: a frozen UniSync checkpoint as a generator's lip-sync loss."""
from __future__ import annotations

import torch
import torch.nn as nn

from unisync_model.model.checkpoint import atomic_save, model_record
from unisync_model.model.expert_loss import SyncLoss, generator_window
from unisync_model.model.unisync import UniSync, UniSyncConfig, example_inputs

CPU = torch.device("cpu")


def tiny_checkpoint(path, audio: str = "mel", visual: str = "rgb", seed: int = 0):
    """A small random UniSync saved the way training saves it, with batch-norm statistics that are
    not the defaults (so a switch to batch statistics would change the output)."""
    torch.manual_seed(seed)
    model = UniSync(UniSyncConfig(audio=audio, visual=visual, width=4, embed_dim=32))
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.normal_(0, 0.05)
        elif name.endswith("running_var"):
            buffer.uniform_(0.8, 1.2)
    atomic_save(model_record(model.eval()), path)
    return model


def test_loads_through_load_model_frozen_and_equal(tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    loss = SyncLoss(tmp_path / "model.pt", device=CPU)
    assert not loss.expert.training
    assert not any(p.requires_grad for p in loss.expert.parameters())
    visual, audio = example_inputs(model.config, batch=3)
    with torch.no_grad():
        expected = model(visual, audio)
        assert torch.allclose(loss.p_sync(visual, audio), expected, atol=1e-6)
        assert torch.allclose(loss(visual, audio), -torch.log(expected).mean(), atol=1e-5)


def test_gradients_reach_the_visual_input_and_not_the_expert(tmp_path):
    tiny_checkpoint(tmp_path / "model.pt")
    loss_fn = SyncLoss(tmp_path / "model.pt", device=CPU)
    visual, audio = example_inputs(loss_fn.expert.config, batch=4)
    visual.requires_grad_(True)
    loss = loss_fn(visual, audio)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert visual.grad is not None and visual.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.expert.parameters())


def test_optimising_the_visual_input_lowers_the_loss(tmp_path):
    tiny_checkpoint(tmp_path / "model.pt", seed=3)
    loss_fn = SyncLoss(tmp_path / "model.pt", device=CPU)
    torch.manual_seed(0)
    _, audio = example_inputs(loss_fn.expert.config, batch=4)
    logits = torch.zeros(4, 5, 48, 96, 3).normal_(0, 0.5).requires_grad_(True)  # frames = sigmoid(logits) ∈ (0, 1)
    optimiser = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(15):
        loss = loss_fn(torch.sigmoid(logits), audio)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0] and all(b < a for a, b in zip(losses, losses[1:])), losses


class Trainer(nn.Module):
    """A generator and its sync loss under one parent, as a training script holds them."""

    def __init__(self, checkpoint):
        super().__init__()
        self.generator = nn.Sequential(nn.Conv3d(3, 3, 3, padding=1), nn.BatchNorm3d(3), nn.Sigmoid())
        self.sync = SyncLoss(checkpoint, device=CPU)


def test_a_parents_train_mode_leaves_the_expert_in_eval_mode(tmp_path):
    tiny_checkpoint(tmp_path / "model.pt")
    trainer = Trainer(tmp_path / "model.pt")
    trainer.train()
    assert trainer.generator.training
    assert not any(m.training for m in trainer.sync.expert.modules())
    stats = {k: v.clone() for k, v in trainer.sync.expert.state_dict().items()}
    faces = trainer.generator(torch.rand(2, 3, 5, 96, 96))  # Wav2Lip's layout: B × 3 × T × H × W
    _, audio = example_inputs(trainer.sync.expert.config, batch=2)
    loss = trainer.sync(generator_window(faces), audio)
    loss.backward()
    assert trainer.generator[0].weight.grad.abs().sum() > 0  # the generator learns from it
    for key, value in trainer.sync.expert.state_dict().items():
        assert torch.equal(value, stats[key]), key  # running statistics untouched
    trainer.eval()
    trainer.train(True)
    trainer.sync.expert.train()  # even a direct call is undone at the next use
    trainer.sync(generator_window(faces.detach()), audio)
    assert not trainer.sync.expert.training


def test_generator_window_is_the_lower_half_in_rgb_frames_last():
    faces = torch.rand(2, 3, 5, 96, 96, requires_grad=True)  # B × C(BGR) × T × H × W
    window = generator_window(faces)
    assert window.shape == (2, 5, 48, 96, 3)
    assert torch.equal(window[1, 2, 0, 7], faces[1, [2, 1, 0], 2, 48, 7])  # row 0 of the window is row 48
    window.sum().backward()
    assert faces.grad[:, :, :, 48:].eq(1).all() and faces.grad[:, :, :, :48].eq(0).all()
    other = generator_window(faces.detach().permute(0, 2, 3, 4, 1), layout="BTHWC", channels="rgb")
    assert torch.equal(other, faces.detach().permute(0, 2, 3, 4, 1)[:, :, 48:])
    big = generator_window(torch.rand(1, 3, 5, 192, 192))  # a 192-pixel face, resized to the expert's 48 × 96
    assert big.shape == (1, 5, 48, 96, 3)


def test_landmarks_expert_gives_gradients_to_landmarks(tmp_path):
    tiny_checkpoint(tmp_path / "model.pt", visual="landmarks")
    loss_fn = SyncLoss(tmp_path / "model.pt", device=CPU)
    visual, audio = example_inputs(loss_fn.expert.config, batch=3)
    visual.requires_grad_(True)
    loss_fn(visual, audio).backward()
    assert visual.grad.abs().sum() > 0
