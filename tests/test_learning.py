"""The training loop learns: a tiny UniSync trained for a few seconds on a corpus whose frames show
the symbols their audio carries (helpers/learnable.py) tells synced from unsynced pairs of unseen
clips far better than chance, by the trainer's validation and by the binary protocol on the test
split. Negative controls, same run: with every clip's audio taken from another clip (nothing left
to sync) it stays at chance, and with the labels flipped in the loss it learns the opposite (so a
loop that flipped labels, or paired the wrong windows, fails the first test)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.learnable import write_learnable_corpus

import unisync_model.training.trainer as trainer_module
from unisync_model.evaluation.protocols import evaluate_binary
from unisync_model.model.margin_bce import margin_bce
from unisync_model.settings import EvalSettings, TrainSettings, from_dict
from unisync_model.training.trainer import train

# four training speakers, one validation speaker, one test speaker: 60 frames (56 windows) each
CLIPS = [(f"{s}{i}", f"spk_{s}", {"e": "val", "f": "test"}.get(s, "train")) for s in "abcdef" for i in range(2)]
# 10 symbols: tdmm's 10 expression coefficients, and Mel bands of 8 bins that the audio pool's 10 rows
# keep apart (80 bins → 40 rows after ε3's stride → 10 pooled rows)
SETTINGS = from_dict(TrainSettings, {
    "epochs": 12, "batch_size": 32, "windows_per_epoch": 512, "val_pairs": 200, "workers": 0, "lr": 3e-3,
    "model": {"width": 4, "embed_dim": 32, "visual_pool": [6, 6], "audio_pool": [10, 8]}})
TEST = EvalSettings(pairs=1000, batch_size=250)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(root, shuffle_audio: bool = False) -> tuple[pd.DataFrame, dict]:
    """Train on a learnable corpus, then the binary protocol on its test split: (training.csv, record)."""
    write_learnable_corpus(root, CLIPS, 60, visual="tdmm", shuffle_audio=shuffle_audio)
    model = train(root / "clips.parquet", root / "shards", ["000"], "mel", "tdmm", root / "model", SETTINGS,
                  threads=1)
    history = pd.read_csv(root / "model" / "training.csv")
    record = evaluate_binary(model, root / "clips.parquet", root / "shards", ["000"], "mel", "tdmm", TEST)
    print("\n", history[["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]].to_string(index=False),
          "\n", {k: round(record[k], 3) for k in ("accuracy", "accuracy_synced", "accuracy_unsynced")})
    return history, record


def test_a_tiny_model_learns_sync_on_a_learnable_corpus(tmp_path):
    history, record = run(tmp_path)
    assert len(history) == SETTINGS.epochs
    assert history["val_accuracy"].iloc[0] < 0.75  # it starts near chance ...
    assert history["val_accuracy"].max() > 0.9  # ... and learns: 200 pairs, chance is 0.5 ± 0.035
    assert history["val_accuracy"].iloc[-3:].min() > 0.85  # and stays there
    assert history["train_loss"].iloc[-1] < 0.6 * history["train_loss"].iloc[0]
    assert history["val_loss"].iloc[-1] < 0.6 * history["val_loss"].iloc[0]
    # the kept model (best validation epoch) on the test speaker's clips, never seen: 1000 pairs, half synced
    assert record["clips"] == 2 and record["pairs"] == 1000
    assert record["accuracy"] > 0.9
    assert record["accuracy_synced"] > 0.9 and record["accuracy_unsynced"] > 0.8
    assert record["mean_p_synced"] - record["mean_p_unsynced"] > 0.4


def test_with_the_audio_of_other_clips_it_stays_at_chance(tmp_path):
    """Same frames, same sounds, same run: only the sync is gone (every clip hears another clip)."""
    history, record = run(tmp_path, shuffle_audio=True)
    assert len(history) == SETTINGS.epochs
    assert history["val_accuracy"].between(0.35, 0.65).all()  # 200 pairs: 0.5 ± 0.035
    assert 0.44 < record["accuracy"] < 0.56  # 1000 pairs: 0.5 ± 0.016
    assert abs(record["mean_p_synced"] - record["mean_p_unsynced"]) < 0.05


def test_with_the_labels_flipped_it_learns_the_opposite(tmp_path, monkeypatch):
    """A loop that swapped the labels would train an anti-sync model: below chance, and the first test fails."""
    monkeypatch.setattr(trainer_module, "margin_bce", lambda p, label, margin: margin_bce(p, 1 - label, margin))
    history, record = run(tmp_path)
    assert history["val_accuracy"].max() < 0.6  # never better than chance
    assert history["val_accuracy"].iloc[-3:].max() < 0.4  # and ends well below it: synced pairs scored unsynced
    assert history["train_accuracy"].iloc[-1] < 0.4
    assert record["accuracy"] < 0.6  # model.pt: the best validation epoch, near chance at best
    assert np.isfinite(history["train_loss"]).all()
