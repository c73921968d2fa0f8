import pytest
import torch

from unisync_model.model.checkpoint import atomic_save, load_model, model_record
from unisync_model import representations
from unisync_model.model.unisync import UniSync, UniSyncConfig, example_inputs
from unisync_model.representations import AUDIO, VISUAL

COMBINATIONS = [(a, v) for a in representations.names(AUDIO) for v in representations.names(VISUAL)]


@pytest.fixture
def small():
    torch.manual_seed(0)
    return UniSync(UniSyncConfig("mel", "rgb", width=4, embed_dim=32)).eval()


def test_shapes_and_range(small):
    visual, audio = example_inputs(small.config, batch=6)
    assert visual.shape == (6, 5, 48, 96, 3) and audio.shape == (6, 16, 80)
    v, a = small.embed_visual(visual), small.embed_audio(audio)
    assert v.shape == (6, 32) and a.shape == (6, 32)
    assert (v >= 0).all() and (a >= 0).all()  # ReLU before the cosine
    p = small(visual, audio)
    assert p.shape == (6,)
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("audio,visual", COMBINATIONS)
def test_every_combination_embeds_to_the_same_size(audio, visual):
    torch.manual_seed(0)
    model = UniSync(UniSyncConfig(audio, visual, width=4, embed_dim=24)).eval()
    inputs = example_inputs(model.config, batch=3)
    v, a = model.embed_visual(inputs[0]), model.embed_audio(inputs[1])
    assert v.shape == a.shape == (3, 24)
    assert (v >= 0).all() and (a >= 0).all()
    p = model(*inputs)
    assert p.shape == (3,) and ((p >= 0) & (p <= 1)).all()
    p.sum().backward()  # every part takes gradients
    assert all(param.grad is not None for param in model.parameters() if param.requires_grad)


def test_landmarks_ignore_where_the_face_is_and_its_size():
    torch.manual_seed(0)
    model = UniSync(UniSyncConfig("mel", "landmarks", width=4, embed_dim=16)).eval()
    points, _ = example_inputs(model.config, batch=2)
    moved = points * 2.5 + torch.tensor([300.0, -40.0])
    torch.testing.assert_close(model.embed_visual(moved), model.embed_visual(points), rtol=1e-4, atol=1e-5)


def test_tdmm_reads_only_the_expression_coefficients():
    torch.manual_seed(0)
    model = UniSync(UniSyncConfig("mel", "tdmm", width=4, embed_dim=16)).eval()
    params, _ = example_inputs(model.config, batch=2)
    changed = params.clone()
    changed[..., :52] = torch.randn_like(changed[..., :52])  # pose and shape
    torch.testing.assert_close(model.embed_visual(changed), model.embed_visual(params))
    changed[..., 55] += 3.0  # one expression coefficient
    assert not torch.allclose(model.embed_visual(changed), model.embed_visual(params))


def test_uint8_frames_are_scaled(small):
    visual, audio = example_inputs(small.config, batch=2)
    as_uint8 = (visual * 255).round().to(torch.uint8)
    torch.testing.assert_close(small(as_uint8, audio), small(as_uint8.float() / 255, audio))


def test_paper_size_model_has_about_the_papers_parameters():
    model = UniSync(UniSyncConfig("mel", "rgb"))
    parameters = sum(p.numel() for p in model.parameters())
    assert 10e6 < parameters < 30e6  # the paper: 16.3 M


def test_save_and_load_round_trip(small, tmp_path):
    path = tmp_path / "model.pt"
    atomic_save(model_record(small, epoch=3), path)
    loaded = load_model(path, torch.device("cpu"))
    visual, audio = example_inputs(small.config, batch=3)
    torch.testing.assert_close(loaded(visual, audio), small(visual, audio))
    assert loaded.config == small.config


def test_unknown_representation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown visual representation"):
        UniSync(UniSyncConfig("mel", "hologram"))
