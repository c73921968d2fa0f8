"""The hubert stage on a tiny random HuBERT saved as a hub model directory (tests/helpers/tiny_hubert.py):
model lookup, frame timing, layer choice, chunking without seams, and the shard it writes."""
from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers.tiny_hubert import HIDDEN, LAYERS, make_tiny_hubert

from unisync_model.extract.hubert import (HOP, PAD, HubertFeatures, HubertNotFound, check_geometry, extract_hubert,
                                          find_local_model, frame_owners, normalise_input, window_starts)
from unisync_model.extract.stage import SkipClip
from unisync_model.io.device import pick_device
from unisync_model.io.shards import ShardReader, ShardWriter
from unisync_model.settings import SAMPLE_RATE, HubertSettings


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_hubert(tmp_path_factory.mktemp("models") / "tiny-hubert")


def features(tiny_dir, **settings) -> HubertFeatures:
    return HubertFeatures(HubertSettings(model=str(tiny_dir), **{"layer": LAYERS, **settings}))


@pytest.fixture(scope="module")
def last_layer(tiny_dir):
    return features(tiny_dir, chunk_seconds=4.0, overlap_seconds=1.0, batch_size=3)


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise under a slowly varying envelope (loud and quiet stretches, as in speech)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    return (0.1 * rng.standard_normal(n) * (0.2 + 0.8 * np.abs(np.sin(2 * np.pi * 0.7 * t)))).astype(np.float32)


def test_one_frame_per_320_samples(last_layer):
    for n in (320, 399, 400, 639, 640, 16000, 16000 + 319, 3 * 16000 + 123):
        out = last_layer(speech_like(n / SAMPLE_RATE + 1e-6, seed=n)[:n])
        assert out.shape == (n // HOP, HIDDEN) and out.dtype == np.float32
    with pytest.raises(SkipClip, match="too short"):
        last_layer(np.zeros(HOP - 1, np.float32))


def test_frame_j_sees_samples_centred_on_its_20_ms(last_layer):
    """An impulse at sample s changes exactly the CNN frames j with 320 j - 40 <= s < 320 j + 360:
    frame j is centred on 320 j + 160, the middle of [j/50, (j+1)/50) s."""
    n = 20 * HOP
    for s in (5 * HOP + 160, 5 * HOP + 10, 5 * HOP + 370, 0, n - 1):
        x = np.zeros(n, np.float32)
        x[s] = 1.0
        inputs = torch.from_numpy(last_layer.padded(x))[None].to(last_layer.device)
        with torch.inference_mode():
            cnn = last_layer.model.feature_extractor(inputs)[0].T.cpu().numpy()  # (frames, channels)
        assert len(cnn) == n // HOP
        background = cnn[np.argmax(np.abs(np.arange(len(cnn)) * HOP + 160 - s))]  # a frame far from s
        changed = {j for j in range(len(cnn)) if not np.allclose(cnn[j], background, atol=1e-6)}
        expected = {j for j in range(len(cnn)) if HOP * j - PAD <= s < HOP * j + HOP + PAD}
        assert changed == expected, (s, changed, expected)


def test_windows_cover_the_clip_with_context_at_every_seam():
    for frames, window, core in ((1500, 300, 200), (301, 300, 200), (950, 300, 200), (50, 300, 200), (777, 110, 100)):
        window = min(window, frames)
        starts = window_starts(frames, window, core)
        owners = frame_owners(starts, window, frames)
        assert owners[0][0] == 0 and owners[-1][1] == frames
        assert all(a[1] == b[0] for a, b in zip(owners, owners[1:]))
        assert starts[-1] + window == frames or len(starts) == 1
        context = (window - core) // 2
        for start, (begin, end) in zip(starts, owners):
            assert start <= begin < end <= start + window
            assert begin == 0 or begin - start >= context
            assert end == frames or start + window - end >= context


def test_chunked_matches_one_pass_without_seams(tiny_dir, last_layer):
    """Overlapping windows agree with one pass over the whole clip (attention is global, so not
    exactly), no worse at the seams than elsewhere; windows without overlap show their seams."""
    x = speech_like(30.0)
    whole = last_layer(x, chunked=False)
    shift = np.linalg.norm(whole[1:] - whole[:-1], axis=1).mean()  # what a one-frame misalignment costs

    def errors(extractor):
        chunked = extractor(x)
        assert chunked.shape == whole.shape == (len(x) // HOP, HIDDEN)
        error = np.linalg.norm(chunked - whole, axis=1)
        window, starts = extractor.plan(len(whole))
        assert len(starts) > 4
        seams = np.zeros(len(whole), bool)
        for _, end in frame_owners(starts, window, len(whole))[:-1]:
            seams[end - 3:end + 3] = True
        return error, seams

    error, seams = errors(last_layer)
    norm = np.linalg.norm(whole, axis=1).mean()
    assert error.max() < 0.1 * norm and error.max() < 0.05 * shift
    assert error[seams].mean() < 1.5 * error[~seams].mean()

    error, seams = errors(features(tiny_dir, chunk_seconds=4.0, overlap_seconds=0.0))
    assert error[seams].mean() > 3 * error[~seams].mean()  # the comparison above does see seams


def test_layer_choice(tiny_dir, last_layer):
    x = speech_like(2.0, seed=3)
    first = features(tiny_dir, layer=0)(x)
    assert not np.allclose(first, last_layer(x), atol=1e-3)
    # Running only the first layers gives the same hidden state as the whole model.
    from transformers import HubertModel
    model = HubertModel.from_pretrained(tiny_dir, local_files_only=True).eval()
    with torch.inference_mode():
        full = model(torch.from_numpy(last_layer.padded(x))[None], output_hidden_states=True).hidden_states
    assert len(full) == LAYERS + 1
    for layer, ours in ((0, first), (1, features(tiny_dir, layer=1)(x))):
        np.testing.assert_allclose(ours, full[layer][0].numpy(), atol=1e-5)
    for bad in (LAYERS + 1, -1):
        with pytest.raises(ValueError, match=rf"hubert.layer {bad} out of range.*0\.\.{LAYERS}"):
            features(tiny_dir, layer=bad)


def test_normalisation_follows_the_preprocessor_config(tmp_path, last_layer):
    assert last_layer.do_normalize is False
    normalising = HubertFeatures(HubertSettings(model=str(make_tiny_hubert(tmp_path / "norm", do_normalize=True)),
                                                layer=1))
    x = speech_like(1.0) + 0.05
    padded = normalising.padded(x)
    assert padded[:PAD].tolist() == [0.0] * PAD and len(padded) == len(x) + 2 * PAD
    assert abs(padded[PAD:-PAD].mean()) < 1e-4 and abs(padded[PAD:-PAD].std() - 1) < 1e-3
    # Group-norm front-end without conv bias: the input's gain does not matter.
    np.testing.assert_allclose(last_layer(3 * x), last_layer(x), atol=2e-2)  # up to GroupNorm's eps
    # No preprocessor_config.json (as some Chinese HuBERT copies): normalise iff the front-end uses layer norm.
    assert not (make_tiny_hubert(tmp_path / "bare", do_normalize=None) / "preprocessor_config.json").exists()
    assert HubertFeatures(HubertSettings(model=str(tmp_path / "bare"), layer=1)).do_normalize is False
    assert normalise_input(SimpleNamespace(feat_extract_norm="layer"), {}) is True
    assert normalise_input(SimpleNamespace(feat_extract_norm="layer"), {"do_normalize": False}) is False


def test_model_found_by_id_offline(tmp_path, monkeypatch, tiny_dir):
    weights_dir, cache = tmp_path / "weights", tmp_path / "cache"
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("UNISYNC_CACHE", str(cache))
    make_tiny_hubert(weights_dir / "hubert-base-ls960")
    make_tiny_hubert(cache / "TencentGameMate--chinese-hubert-base", do_normalize=None)
    assert find_local_model("facebook/hubert-base-ls960")[0] == weights_dir / "hubert-base-ls960"
    chinese = HubertFeatures(HubertSettings(model="TencentGameMate/chinese-hubert-base", layer=1))
    assert chinese.source.ref == str(cache / "TencentGameMate--chinese-hubert-base")
    assert chinese.attrs()["model_found_in"] == "directory" and chinese.do_normalize is False
    with pytest.raises(HubertNotFound, match="no config.json"):
        find_local_model(str(tmp_path))


def test_missing_model_names_it_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))

    def no_network(*args, **kwargs):
        raise AssertionError("the hubert stage tried the network while offline")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(HubertNotFound) as err:
        HubertFeatures(HubertSettings(model="facebook/hubert-base-ls960"))
    message = str(err.value)
    assert "'facebook/hubert-base-ls960'" in message and str(tmp_path / "hubert-base-ls960") in message
    assert f"hf download facebook/hubert-base-ls960 --local-dir {tmp_path}/hubert-base-ls960" in message
    assert "UNISYNC_OFFLINE" in message


def test_front_end_must_be_50_hz():
    check_geometry(SimpleNamespace(conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match="needs 400 and 320"):
        check_geometry(SimpleNamespace(conv_kernel=(10, 3, 3, 3, 3, 2), conv_stride=(5, 2, 2, 2, 2, 2)))


def test_device_is_chosen_once_by_pick_device(last_layer):
    assert last_layer.device == pick_device()
    assert {p.device.type for p in last_layer.model.parameters()} == {pick_device().type}
    assert all(p.dtype == torch.float32 for p in last_layer.model.parameters())
    cpu = HubertFeatures(last_layer.settings, device=torch.device("cpu"))
    x = speech_like(1.0, seed=5)
    np.testing.assert_allclose(cpu(x), last_layer(x), atol=1e-4)


def test_extract_hubert_writes_float16_frames_and_carries_skips(tmp_path, tiny_dir, last_layer):
    clips = {"short": speech_like(1.3, seed=1), "long": speech_like(6.5, seed=2), "tiny": np.zeros(100, np.float32)}
    audio = tmp_path / "audio.h5"
    with ShardWriter(audio, "audio", {"sample_rate": SAMPLE_RATE}) as writer:
        for clip_id, x in clips.items():
            writer.add(clip_id, np.round(x * 32767).astype(np.int16))
        writer.skip("broken", "no audio stream")
    settings = HubertSettings(model=str(tiny_dir), layer=LAYERS, chunk_seconds=2.0, overlap_seconds=0.5, batch_size=2)
    out = tmp_path / "hubert.h5"
    assert extract_hubert(audio, out, settings) == (2, 2)

    shard = ShardReader(out)
    assert shard.clip_ids == ["short", "long"]
    assert {r["clip_id"]: r["reason"] for r in shard.skipped} == {
        "broken": "no audio stream", "tiny": "audio too short for HuBERT: 100 samples < 320"}
    assert shard.attrs["stage"] == "hubert" and shard.attrs["frame_rate"] == 50 and shard.attrs["pad_samples"] == PAD
    assert json.loads(shard.attrs["settings"])["layer"] == LAYERS
    reference = HubertFeatures(settings)
    for clip_id in shard.clip_ids:
        stored = shard.read(clip_id)
        pcm = np.round(clips[clip_id] * 32767).astype(np.int16)
        assert stored.dtype == np.float16 and stored.shape == (len(pcm) // HOP, HIDDEN)
        np.testing.assert_allclose(stored, reference(pcm / 32768.0), atol=2e-3, rtol=2e-3)
        assert shard.info(clip_id)["dropped_samples"] == len(pcm) % HOP
    assert shard.info("long")["windows"] > 1 and shard.info("short")["windows"] == 1
