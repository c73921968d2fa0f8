"""The original SyncNet as an expert: syncnet_python's architecture and names, its weights file read
safely, its MFCC windows and face crops, per-window embeddings of a real clip."""
from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest
import torch
from helpers import TEST_CLIPS

from unisync_model.model import syncnet
from unisync_model.model.syncnet import (SyncNetExpert, SyncNetS, SyncNetWeightsError, load_syncnet, mfcc,
                                         mfcc_window_count, mfcc_windows, syncnet_boxes, syncnet_crop, window_count)

CPU = torch.device("cpu")


def random_syncnet(seed: int = 0) -> SyncNetS:
    """The real architecture with random weights and random batch-norm statistics (so eval mode differs
    from an identity and a wrongly mapped buffer would show)."""
    torch.manual_seed(seed)
    model = SyncNetS()
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.normal_(0, 0.1)
        elif name.endswith("running_var"):
            buffer.uniform_(0.5, 1.5)
    return model.eval()


def save_like_the_official_file(model: SyncNetS, path) -> None:
    """As a 2017-18 syncnet_python checkpoint: a state dict of S in torch's legacy (pre-1.6) format,
    without num_batches_tracked (torch < 0.4.1 had none) and with CUDA storages (saved from a GPU model),
    which map_location="cpu" must bring back without a GPU."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert data.count(b"ctorch\nFloatStorage\n") == 1 and b"X\x03\x00\x00\x00cpu" in data
    data = data.replace(b"ctorch\nFloatStorage\n", b"ctorch.cuda\nFloatStorage\n")
    data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    path.write_bytes(data)


def test_architecture_has_syncnet_pythons_names_and_shapes():
    state = SyncNetS().state_dict()
    convs = {"netcnnaud": [0, 4, 8, 11, 14, 18], "netcnnlip": [0, 4, 8, 11, 14, 18]}
    expected = {f"{net}.{i}.weight" for net, idx in convs.items() for i in idx}
    expected |= {f"{net}.{i + 1}.{p}" for net, idx in convs.items() for i in idx
                 for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    expected |= {f"{net}.{i}.bias" for net, idx in convs.items() for i in idx}
    expected |= {f"{head}.{i}.{p}" for head in ("netfcaud", "netfclip") for i in (0, 3) for p in ("weight", "bias")}
    expected |= {f"{head}.1.{p}" for head in ("netfcaud", "netfclip")
                 for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert set(state) == expected
    assert state["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert state["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert state["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert state["netfclip.3.weight"].shape == (1024, 512)
    # the float payload of the official file: 54,573,114 bytes hold 54,561,024 bytes of float32 tensors
    floats = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert floats * 4 == 54_561_024


def test_the_official_format_loads_through_the_resolver_strictly(tmp_path, monkeypatch):
    model = random_syncnet()
    save_like_the_official_file(model, tmp_path / "syncnet_v2.model")
    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))
    loaded = load_syncnet("syncnet_v2.model", device=CPU)  # by name: resolve() finds it
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[key], value), key
    mfccs, frames = torch.randn(3, 1, 13, 20), torch.rand(2, 3, 5, 224, 224) * 255
    with torch.no_grad():
        assert torch.allclose(loaded.forward_aud(mfccs), model.forward_aud(mfccs))
        assert torch.allclose(loaded.forward_lip(frames), model.forward_lip(frames), atol=1e-5)
    # today's torch.save of the state dict (zip format) and a SyncNetInstance's "__S__."-prefixed one load too
    torch.save(model.state_dict(), tmp_path / "zip.model")
    load_syncnet(tmp_path / "zip.model", device=CPU)
    torch.save({f"__S__.{k}": v for k, v in model.state_dict().items()}, tmp_path / "instance.model")
    load_syncnet(tmp_path / "instance.model", device=CPU)


def test_a_missing_file_names_where_to_get_it(tmp_path, monkeypatch):
    from unisync_model.io.weights import WeightsNotFound

    monkeypatch.setenv("UNISYNC_WEIGHTS", str(tmp_path))  # offline (conftest): no download is tried
    with pytest.raises(WeightsNotFound, match=r"syncnet_v2\.model.*robots\.ox\.ac\.uk"):
        load_syncnet(device=CPU)


def test_a_state_dict_of_another_network_is_refused(tmp_path):
    state = random_syncnet().state_dict()
    del state["netfclip.3.bias"]
    torch.save(state, tmp_path / "short.model")
    with pytest.raises(SyncNetWeightsError, match="Missing key"):
        load_syncnet(tmp_path / "short.model", device=CPU)


class Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_malicious_pickle_is_refused_and_never_run(tmp_path, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "syncnet_v2.model"
    torch.save({"netcnnaud.0.weight": torch.zeros(1), "payload": Exploit(marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(SyncNetWeightsError, match="weights-only"):
        load_syncnet(path, device=CPU)
    assert not marker.exists()
    # a plain pickle (not torch's format) with the same payload
    path.write_bytes(pickle.dumps(Exploit(marker), protocol=2))
    with pytest.raises(SyncNetWeightsError):
        load_syncnet(path, device=CPU)
    assert not marker.exists()


def test_a_pickled_module_is_refused(tmp_path):
    torch.save(SyncNetS(), tmp_path / "module.model")  # torch.save(model): needs the class to unpickle
    with pytest.raises(SyncNetWeightsError, match="weights-only"):
        load_syncnet(tmp_path / "module.model", device=CPU)


def test_a_run_of_frames_gives_each_windows_embedding():
    model = random_syncnet(1)
    expert = SyncNetExpert(model=model, device=CPU, batch_size=3)  # 7 windows in batches of 3, 3, 1
    frames = np.random.default_rng(0).integers(0, 256, (11, 224, 224, 3), np.uint8)
    got = expert.embed_visual(frames)
    assert got.shape == (7, 1024)
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float()
    with torch.no_grad():
        windows = model.forward_lip(torch.stack([x[:, s:s + 5] for s in range(7)]))
    assert torch.allclose(got, windows, atol=1e-4 * windows.abs().max())


def test_mfcc_is_python_speech_features_on_int16_samples():
    import python_speech_features

    rng = np.random.default_rng(0)
    ints = (rng.standard_normal(16000) * 3000).astype(np.int16)
    reference = python_speech_features.mfcc(ints, 16000).T
    assert reference.shape == (13, 99)  # 1 + ⌈(16000 − 400) / 160⌉ frames
    assert np.allclose(mfcc(ints), reference, rtol=1e-5, atol=1e-4)
    assert np.allclose(mfcc(ints.astype(np.float32) / 32768), reference, rtol=1e-5, atol=1e-4)


def test_mfcc_windows_follow_the_video_frames_on_a_tone_burst():
    frames, burst = 30, 12  # a 440 Hz tone during video frame 12 only ([0.48, 0.52) s), silence elsewhere
    samples = np.zeros(frames * 640, np.float32)
    t = np.arange(640) / 16000
    samples[burst * 640:(burst + 1) * 640] = 0.5 * np.sin(2 * np.pi * 440 * t)
    samples += np.random.default_rng(0).standard_normal(len(samples)).astype(np.float32) * 1e-4
    cc = mfcc(samples)
    assert cc.shape[1] == 4 * frames - 1  # 100 Hz: 4 MFCC frames per video frame
    energy = cc[0]  # c0 is the log energy of the 25 ms frame [10 ms · j, 10 ms · j + 25 ms)
    inside = {4 * burst, 4 * burst + 1}  # the frames wholly inside the burst
    touching = set(range(4 * burst - 2, 4 * burst + 4))
    loud = set(np.flatnonzero(energy > energy.min() + 10).tolist())
    assert inside <= loud <= touching
    assert int(np.argmax(energy)) in inside
    windows = mfcc_windows(cc)
    assert windows.shape == (frames - 5, 1, 13, 20)  # the last visual window has no full MFCC window
    for s in range(len(windows)):
        assert np.array_equal(windows[s, 0], cc[:, 4 * s:4 * s + 20])
        peak = int(np.argmax(windows[s, 0, 0]))
        if s <= burst <= s + 4:  # the visual window s…s+4 shows the burst frame
            assert peak in {4 * (burst - s), 4 * (burst - s) + 1}, s
            assert windows[s, 0, 0].max() == energy.max()
        else:  # at most the frames that only touch the burst (window burst − 5 ends 15 ms into it)
            assert windows[s, 0, 0].max() < energy[sorted(inside)].min() - 0.3, s


def test_window_counts_match_syncnet_python():
    assert window_count(50, 50 * 640) == 45  # min(T, ⌊N / 640⌋) − 5
    assert window_count(50, 40 * 640 + 639) == 35
    assert window_count(4, 4 * 640) == 0
    for frames in (10, 37):
        n_mfcc = mfcc(np.zeros(frames * 640, np.float32) + 1e-3).shape[1]
        assert mfcc_window_count(n_mfcc) == window_count(frames, frames * 640)


def crop_video_literal(frame, box, cs=0.4):
    """syncnet_python's crop_video on one frame, literally (np.pad + slice + resize)."""
    bs = max(box[3] - box[1], box[2] - box[0]) / 2
    my, mx = (box[1] + box[3]) / 2, (box[0] + box[2]) / 2
    bsi = int(bs * (1 + 2 * cs))
    padded = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), "constant", constant_values=(110, 110))
    my, mx = my + bsi, mx + bsi
    face = padded[int(my - bs):int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)):int(mx + bs * (1 + cs))]
    return cv2.resize(face, (224, 224))


@pytest.mark.parametrize("box", [(100.3, 80.7, 180.2, 170.9), (-20.5, 150.0, 60.0, 239.0),
                                 (250.0, -30.0, 319.5, 40.2), (10.0, 10.0, 300.0, 230.0)])
def test_the_crop_is_syncnet_pythons(box):
    frame = np.random.default_rng(1).integers(0, 256, (240, 320, 3), np.uint8)
    half, cx, cy = syncnet_boxes(np.array([box]), smooth=False)[0]
    assert np.array_equal(syncnet_crop(frame, half, cx, cy), crop_video_literal(frame, box))


def test_boxes_are_median_filtered_like_crop_video():
    boxes = np.tile([100.0, 100.0, 200.0, 220.0], (30, 1))
    boxes[10] += 40  # one jumpy detection
    dets = syncnet_boxes(boxes)
    assert np.allclose(dets[5:25], [60.0, 150.0, 160.0])


@pytest.fixture(scope="module")
def short_clip_track(yunet_weights):
    from unisync_model.extract.faces import YuNetDetector
    from unisync_model.extract.track_stream import track_clip
    from unisync_model.settings import TracksSettings

    path = TEST_CLIPS / "vox_pcavs_Audio_Source_00086.mp4"  # 3 s, VoxCeleb2 224 × 224 (tests/data)
    settings = TracksSettings(weights=str(yunet_weights))
    track, _ = track_clip(path, YuNetDetector(settings), settings)
    return path, track


def test_per_window_embeddings_of_a_real_clip(short_clip_track):
    from unisync_model.io.media import audio_samples
    from unisync_model.io.track_array import segments_of
    from unisync_model.model.lse import syncnet_lse

    path, track = short_clip_track
    crops = syncnet.crop_faces(path, track)
    assert crops.shape == (len(track), 224, 224, 3) and crops.dtype == np.uint8
    assert (crops != 110).mean() > 0.9  # the face fills the crop; the grey border is small on VoxCeleb2's crops
    samples = audio_samples(path)
    expert = SyncNetExpert(model=random_syncnet(2), device=CPU)
    segments = expert.embed_clip(path, track, samples)
    assert [s["segment"] for s in segments] == segments_of(track)
    for segment in segments:
        start, stop = segment["segment"]
        n = window_count(stop - start, min(len(samples) - start * 640, (stop - start) * 640))
        assert segment["visual"].shape == segment["audio"].shape == (n, 1024)
        assert torch.isfinite(segment["visual"]).all() and torch.isfinite(segment["audio"]).all()
        lse = syncnet_lse(segment["visual"], segment["audio"])  # feeds the LSE-D / LSE-C code as it is
        assert np.isfinite(lse.min_dist) and np.isfinite(lse.confidence) and -15 <= lse.offset <= 15


def test_crops_streamed_with_the_tracks_give_embed_clips_windows(short_clip_track, yunet_weights):
    """`unisync score --scorer syncnet` embeds the crops on the tracks' own decode (StreamedCrops): the
    same windows as embed_clip's second decode, for every segment."""
    from unisync_model.extract.faces import YuNetDetector
    from unisync_model.extract.track_stream import stream_tracks
    from unisync_model.io.media import audio_samples
    from unisync_model.scoring.scorers import ClipData
    from unisync_model.scoring.scorers.syncnet import SyncNetScorer, StreamedCrops
    from unisync_model.settings import TracksSettings

    path, track = short_clip_track
    expert = SyncNetExpert(model=random_syncnet(3), device=CPU)
    settings = TracksSettings(weights=str(yunet_weights))
    reader = StreamedCrops(expert)
    streamed = stream_tracks(path, YuNetDetector(settings), settings, on_frame=reader)
    np.testing.assert_array_equal(streamed.track, track)
    samples = audio_samples(path)
    clip = ClipData("clip", str(path), track, samples, reader.arrays(streamed.kept, len(track)))
    scorer = SyncNetScorer.__new__(SyncNetScorer)
    scorer.expert = expert
    got = scorer.embed(clip)
    want = expert.embed_clip(path, track, samples)
    assert [(s.start, s.stop) for s in got] == [w["segment"] for w in want]
    for seg, ref in zip(got, want):
        np.testing.assert_allclose(seg.visual, ref["visual"].numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(seg.audio, ref["audio"].numpy(), rtol=1e-5, atol=1e-6)
