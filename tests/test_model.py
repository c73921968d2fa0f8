import pytest
import torch

from unisync_model.model.checkpoint import ArchitectureMismatch, atomic_save, load_model, model_record
from unisync_model import representations
from unisync_model.model.unisync import ARCHITECTURE, UniSync, UniSyncConfig, example_inputs
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


def conv_block(cin: int, cout: int, kh: int, kw: int | None = None) -> int:
    """Conv2d weights and bias, then BatchNorm's weight and bias."""
    return cin * cout * kh * (kw or kh) + cout + 2 * cout


def test_paper_size_model_has_the_parameters_of_its_layer_list():
    """Mel × RGB at the default size (width w = 64, embed 512, pools 24 × 24 and 16 × 16), counted
    from the layer list of docs and model/unisync.py by hand."""
    w, e = 64, 512
    rgb = conv_block(15, w, 7) + conv_block(w, 2 * w, 5) + conv_block(2 * w, 2 * w, 3)  # ε1: 5 frames × 3 channels in
    mel = conv_block(1, w, 3) + conv_block(w, w, 3) + conv_block(w, 2 * w, 3) + conv_block(2 * w, 2 * w, 3)  # ε3
    # ε2 / ε4 (layout 2): a residual block on every map of at least 6 × 6, the pooled one first, a
    # stride-2 block per halving (channels doubling up to 8w), then one block over the last map:
    # 24 → 12 → 6 → 3 with residuals at 24, 12, 6 (3 × 3 kernel); 16 → 8 → 4 → 2 with residuals at 16, 8 (2 × 2)
    halvings = sum(conv_block(cin, cout, 3) for cin, cout in ((2 * w, 4 * w), (4 * w, 8 * w), (8 * w, 8 * w)))
    visual_extractor = conv_block(2 * w, 2 * w, 3) + conv_block(4 * w, 4 * w, 3) + conv_block(8 * w, 8 * w, 3) \
        + halvings + conv_block(8 * w, e, 3)
    audio_extractor = conv_block(2 * w, 2 * w, 3) + conv_block(4 * w, 4 * w, 3) + halvings + conv_block(8 * w, e, 2)
    expected = rgb + visual_extractor + mel + audio_extractor
    model = UniSync(UniSyncConfig("mel", "rgb"))
    assert sum(p.numel() for p in model.parameters()) == expected == 15_584_064  # 15.6 M (the paper: 16.3 M)
    assert abs(expected / 16.3e6 - 1) < 0.05  # issue 18's tolerance
    assert sum(p.numel() for p in model.visual_preprocess.parameters()) == rgb
    assert sum(p.numel() for p in model.audio_extractor.parameters()) == audio_extractor


def test_save_and_load_round_trip(small, tmp_path):
    path = tmp_path / "model.pt"
    atomic_save(model_record(small, epoch=3), path)
    loaded = load_model(path, torch.device("cpu"))
    visual, audio = example_inputs(small.config, batch=3)
    torch.testing.assert_close(loaded(visual, audio), small(visual, audio))
    assert loaded.config == small.config


def layout_1_state(model: UniSync) -> dict[str, torch.Tensor]:
    """`model`'s state dict with its shared extractors rebuilt as layout 1 had them (a stride-2 block
    and a residual block per halving, then one block over the last map): the shapes an old
    checkpoint holds."""
    state = {k: v for k, v in model.state_dict().items() if "_extractor." not in k}
    w, e = model.config.width, model.config.embed_dim
    for name, last in (("visual_extractor", 3), ("audio_extractor", 2)):
        layers = [(2 * w, 4 * w, 3), (4 * w, 4 * w, 3), (4 * w, 8 * w, 3), (8 * w, 8 * w, 3),
                  (8 * w, 8 * w, 3), (8 * w, 8 * w, 3), (8 * w, e, last)]
        for i, (cin, cout, k) in enumerate(layers):
            block = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, k), torch.nn.BatchNorm2d(cout))
            state.update({f"{name}.{i}.{'conv' if key.startswith('0.') else 'norm'}.{key[2:]}": value
                          for key, value in block.state_dict().items()})
    return state


def test_a_checkpoint_of_the_old_layer_layout_is_refused_with_what_changed(small, tmp_path):
    record = model_record(small, epoch=3)
    record["state_dict"] = layout_1_state(small)
    del record["architecture"]  # layout 1 recorded none
    with pytest.raises(RuntimeError, match="size mismatch"):  # what torch alone would say
        UniSync(small.config).load_state_dict(record["state_dict"])
    path = tmp_path / "old.pt"
    atomic_save(record, path)
    with pytest.raises(ArchitectureMismatch) as error:
        load_model(path, torch.device("cpu"))
    message = str(error.value)
    assert "layout 1" in message and "layout 2" in message and str(path) in message
    assert "ε2 / ε4" in message and "residual" in message and "Retrain" in message
    assert "size mismatch" not in message


def test_a_checkpoint_of_a_newer_layout_is_refused(small, tmp_path):
    path = tmp_path / "new.pt"
    atomic_save(model_record(small) | {"architecture": ARCHITECTURE + 1}, path)
    with pytest.raises(ArchitectureMismatch, match=r"layout 3 .*which this version \(layout 2\) does not know"):
        load_model(path, torch.device("cpu"))


def test_unknown_representation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown visual representation"):
        UniSync(UniSyncConfig("mel", "hologram"))
