"""evaluate_offset end to end on tiny hand-made shards: with a tiny random UniSync (its scores
must be the model's own, window by window), and with a stand-in model that reads a time code from
the frames, where the answer is known (audio in sync: every window right; audio 3 frames late:
every window wrong, AV offset −3)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

import unisync_model.evaluation.protocols as evaluate_module
from unisync_model.evaluation.protocols import OFFSET, evaluate_binary, evaluate_offset, segment_embeddings, write_json
from unisync_model.evaluation.results_table import results_table
from unisync_model.io.av_timing import MEL_RATE, MEL_WINDOW, mel_start
from unisync_model.model.checkpoint import atomic_save, model_record
from unisync_model.model.lse import shift_scores, syncnet_lse
from unisync_model.model.unisync import UniSync, UniSyncConfig
from unisync_model.settings import FPS, EvalSettings
from unisync_model.training.windows import open_shards
from helpers.synthetic_runs import write_run

CROP = (24, 48, 3)  # a smaller crop than the default (a config may set one): quicker
# clip id → (speaker, split, frames, segments as [start, stop) frame ranges)
CLIPS = {
    "a/1": ("a", "test", 60, [(0, 60)]),
    "b/1": ("b", "test", 70, [(0, 30), (38, 70)]),  # two face segments: a gap without the face
    "c/1": ("c", "train", 40, [(0, 40)]),  # another split: never evaluated
}


def make_run(tmp_path, delay: int = 0, time_code: bool = False):
    """CLIPS as a manifest and rgb / mel / tracks shards (helpers.synthetic_runs)."""
    return write_run(tmp_path, CLIPS, CROP, delay, time_code)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    model = UniSync(UniSyncConfig("mel", "rgb", width=4, embed_dim=32, visual_frame=CROP)).eval()
    path = tmp_path / "model.pt"
    atomic_save(model_record(model, settings={"seed": 7}), path)
    return model, path


def test_offset_protocol_on_a_tiny_random_model(tmp_path, tiny_model):
    model, path = tiny_model
    run = make_run(tmp_path)
    settings = EvalSettings(batch_size=7, pairs=40)
    record = evaluate_offset(path, run / "clips.parquet", run / "shards", ["000"], "mel", "rgb", settings)
    assert record["protocol"] == OFFSET and record["seed"] == 7 and record["contexts"] == [5, 15]
    # windows: 56 for a/1; 26 + 28 for b/1's two segments; c/1 is in another split
    assert (record["clips"], record["segments"], record["windows"], record["speakers"]) == (2, 3, 110, 2)
    for k in (5, 15):
        by_k = record["by_context"][str(k)]
        assert 0 <= record[f"accuracy_k{k}"] == by_k["accuracy"] <= 1 and by_k["windows"] == 110
        assert 0 < by_k["chance"] < 1
    assert 0 <= record["lse_d"] <= math.sqrt(2) and record["lse_c"] >= 0
    assert [s["windows"] for s in record["per_segment"]] == [56, 26, 28]
    assert [s["first_frame"] for s in record["per_segment"]] == [0, 0, 38]
    readers = [open_shards(run / "shards", stage, ["000"])["000"] for stage in ("rgb", "mel")]
    lse = syncnet_lse(*segment_embeddings(model, *readers, "a/1", 0, 56, "mel", 8), normalise=True)
    assert record["per_segment"][0]["lse_d"] == pytest.approx(lse.min_dist, abs=1e-6)
    assert record["per_segment"][0]["lse_c"] == pytest.approx(lse.confidence, abs=1e-6)
    # the binary protocol still runs on the same shards, and the table reads both JSONs
    binary = evaluate_binary(path, run / "clips.parquet", run / "shards", ["000"], "mel", "rgb", settings)
    assert binary["protocol"] == "binary" and binary["pairs"] == 40
    write_json(record, tmp_path / "metrics_offset.json")
    write_json(binary, tmp_path / "metrics_binary.json")
    table = results_table([tmp_path / "metrics_binary.json", tmp_path / "metrics_offset.json"])
    assert table.loc[0, "protocol"] == "binary + offset" and table.loc[0, "test_clips"] == 2
    assert table.loc[0, "offset_K15_%"] == round(100 * record["accuracy_k15"], 2)


@pytest.mark.parametrize("clip_id,first,windows", [("a/1", 0, 56), ("b/1", 38, 28)])  # b/1: its 2nd segment
def test_segment_scores_are_the_models_own_window_by_window(tmp_path, tiny_model, clip_id, first, windows):
    model, _ = tiny_model
    run = make_run(tmp_path)
    rgb, mel = open_shards(run / "shards", "rgb", ["000"])["000"], open_shards(run / "shards", "mel", ["000"])["000"]
    v, a = segment_embeddings(model, rgb, mel, clip_id, first, windows, "mel", batch_size=5)
    scores = shift_scores(v, a)
    for s, shift in [(0, 0), (1, 0), (3, 0), (windows - 1, 0), (10, 4), (20, -7), (5, -5), (1, 2)]:
        visual = torch.from_numpy(rgb.read(clip_id, first + s, first + s + 5))[None]  # window s
        j = mel_start(first + s + shift)  # the audio window s + shift
        audio = torch.from_numpy(mel.read(clip_id, j, j + MEL_WINDOW))[None]
        with torch.no_grad():
            p = float(model(visual, audio))
        assert scores[s, 15 + shift] == pytest.approx(p, abs=1e-5), (s, shift)
    assert np.isnan(scores[0, :15]).all() and np.isnan(scores[windows - 1, 16:]).all()  # never outside the segment


class TimeCode(nn.Module):
    """Embeds a window as a one-hot of the video frame it starts at: rgb frames hold their index,
    Mel frames j − 3.2·delay, so matching embeddings (cosine 1) mean the same moment."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # for the device

    def embed_visual(self, visual):
        return 3 * nn.functional.one_hot(visual[:, 0, 0, 0, 0].long() + 32, 128).float()  # scale means nothing

    def embed_audio(self, audio):  # the first Mel frame, ceil(3.2 s) − 3.2·delay, back to s − delay
        return nn.functional.one_hot(torch.round(audio[:, 0, 0] * FPS / MEL_RATE).long() + 32, 128).float()


@pytest.mark.parametrize("delay,expected,av_offset", [(0, 1.0, 0), (3, 0.0, -3)])
def test_a_known_delay_gives_the_known_answer(tmp_path, tiny_model, monkeypatch, delay, expected, av_offset):
    _, path = tiny_model
    run = make_run(tmp_path, delay=delay, time_code=True)
    monkeypatch.setattr(evaluate_module, "load_checkpoint",  # the stand-in, with the checkpoint's own record
                        lambda path, device: (TimeCode().eval(), torch.load(path, weights_only=True)))
    record = evaluate_offset(path, run / "clips.parquet", run / "shards", ["000"], "mel", "rgb",
                             EvalSettings(batch_size=16))
    assert record["accuracy_k5"] == record["accuracy_k15"] == expected
    assert [s["av_offset"] for s in record["per_segment"]] == [av_offset] * 3
    if delay == 0:
        assert record["lse_d"] == pytest.approx(0.0, abs=1e-4)  # identical unit vectors (torch's eps) at the best shift
        assert record["by_context"]["5"]["accuracy_full_range"] == 1.0
