"""Which epoch becomes model.pt (train.keep / train.best_by), on a tiny learnable corpus
(helpers/learnable.py): training.csv logs the three criteria every epoch, model.pt is the best epoch
of the chosen one (switching it trains nothing again), the choice survives an interruption (also
from a last.pt of before best_by), and the validation offset protocol (training/validation.py) is
evaluate_offset's accuracy_k5 on the same model and split."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from helpers.learnable import write_learnable_corpus

import unisync_model.training.trainer as trainer_module
from unisync_model.evaluation.protocols import evaluate_offset
from unisync_model.model.checkpoint import load_checkpoint
from unisync_model.settings import EvalSettings, TrainSettings, from_dict, to_dict
from unisync_model.training.trainer import LOG_COLUMNS, settings_key, train
from unisync_model.training.validation import segment_embeddings, split_offset_accuracy
from unisync_model.training.windows import clip_table, open_shards

# as tests/test_learning.py, shorter: three training speakers, one validation speaker (two clips of
# different lengths), one test speaker
CLIPS = [(f"{s}{i}", f"spk_{s}", {"d": "val", "e": "test"}.get(s, "train")) for s in "abcde" for i in range(2)]
FRAMES = {c: 80 if c == "d1" else 60 for c, _, _ in CLIPS}
SETTINGS = from_dict(TrainSettings, {
    "epochs": 6, "batch_size": 32, "windows_per_epoch": 256, "val_pairs": 100, "workers": 0, "lr": 3e-3,
    "model": {"width": 4, "embed_dim": 32, "visual_pool": [6, 6], "audio_pool": [10, 8]}})
CRITERIA = {"accuracy": ("val_accuracy", "idxmax"), "offset": ("val_offset_accuracy", "idxmax"),
            "loss": ("val_loss", "idxmin")}


def corpus(root):
    if not (root / "clips.parquet").exists():
        write_learnable_corpus(root, CLIPS, FRAMES, visual="tdmm")
    return root / "clips.parquet", root / "shards"


def fit(root, out, settings: TrainSettings = SETTINGS):
    manifest, shards = corpus(root)
    return train(manifest, shards, ["000"], "mel", "tdmm", out, settings, threads=1)


def kept_epoch(model_pt) -> int:
    return load_checkpoint(model_pt, torch.device("cpu"))[1]["epoch"]


def chosen(history: pd.DataFrame, best_by: str) -> int:
    """The epoch the rule picks from training.csv (the first one on a tie)."""
    column, pick = CRITERIA[best_by]
    return int(history.loc[getattr(history[column], pick)(), "epoch"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("choice")
    model = fit(root, root / "model")
    torch.set_num_threads(threads)
    return root, model, pd.read_csv(root / "model" / "training.csv")


def test_training_csv_logs_the_three_criteria(trained):
    _, model, history = trained
    assert TrainSettings().best_by == "loss" and kept_epoch(model) == chosen(history, "loss")  # the default
    assert list(history.columns) == LOG_COLUMNS and LOG_COLUMNS[-1] == "val_offset_accuracy"
    assert LOG_COLUMNS[:7] == ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "windows",
                               "seconds"]
    assert len(history) == SETTINGS.epochs
    assert history["val_offset_accuracy"].between(0, 1).all()
    assert history["val_offset_accuracy"].iloc[-1] > history["val_offset_accuracy"].iloc[0]  # it learns


@pytest.mark.parametrize("best_by", list(CRITERIA))
def test_model_pt_is_the_best_epoch_of_the_chosen_criterion(trained, best_by, monkeypatch):
    """Every epoch is done: switching best_by only writes model.pt again, from that criterion's best epoch."""
    root, model, history = trained
    monkeypatch.setattr(trainer_module, "run_epoch", lambda *a, **k: pytest.fail("trained again"))
    fit(root, root / "model", from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": best_by}))
    record = load_checkpoint(model, torch.device("cpu"))[1]
    epoch = chosen(history, best_by)
    assert record["epoch"] == epoch
    row = history.set_index("epoch").loc[epoch]
    assert record["val_offset_accuracy"] == pytest.approx(row["val_offset_accuracy"])
    assert record["val_loss"] == pytest.approx(row["val_loss"])


def test_keep_last_overrides_best_by(trained, monkeypatch):
    root, model, _ = trained
    monkeypatch.setattr(trainer_module, "run_epoch", lambda *a, **k: pytest.fail("trained again"))
    fit(root, root / "model", from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": "offset", "keep": "last"}))
    assert kept_epoch(model) == SETTINGS.epochs


def test_best_by_and_keep_are_left_out_of_the_resume_key():
    other = from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": "loss", "keep": "last"})
    assert settings_key(other, "mel", "tdmm") == settings_key(SETTINGS, "mel", "tdmm")


def test_an_unknown_criterion_is_refused(tmp_path):
    with pytest.raises(ValueError, match="best_by"):
        fit(tmp_path, tmp_path / "model", from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": "f1"}))


class Interrupted(Exception):
    pass


def interrupt_after(monkeypatch, epochs: int) -> None:
    """Stop the run once `epochs` epochs are in last.pt (write_log follows the save of last.pt)."""
    write_log, calls = trainer_module.write_log, []

    def stopping(history, path):
        write_log(history, path)
        calls.append(1)
        if len(calls) == epochs:
            raise Interrupted

    monkeypatch.setattr(trainer_module, "write_log", stopping)


@pytest.mark.parametrize("best_by", ["offset", "loss"])
def test_the_choice_survives_an_interruption(tmp_path, monkeypatch, one_torch_thread, trained, best_by):
    """Killed after epoch 3, rerun: the same history as one uninterrupted run, and model.pt its best epoch."""
    settings = from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": best_by})
    with monkeypatch.context() as m:
        interrupt_after(m, 3)
        with pytest.raises(Interrupted):
            fit(tmp_path, tmp_path / "model", settings)
    model = fit(tmp_path, tmp_path / "model", settings)
    history = pd.read_csv(tmp_path / "model" / "training.csv")
    pd.testing.assert_frame_equal(history.drop(columns="seconds"), trained[2].drop(columns="seconds"))
    assert kept_epoch(model) == chosen(history, best_by)


def test_a_last_pt_of_before_best_by_resumes(tmp_path, monkeypatch, one_torch_thread):
    """A last.pt holding only best_accuracy (and a history without the offset column) resumes; the
    offset criterion then chooses among the epochs trained since, accuracy among all of them."""
    with monkeypatch.context() as m:
        interrupt_after(m, 3)
        with pytest.raises(Interrupted):
            fit(tmp_path, tmp_path / "model")
    checkpoints = tmp_path / "model" / "checkpoints"
    state = torch.load(checkpoints / "last.pt", weights_only=True)
    del state["best"]
    for row in state["history"]:
        del row["val_offset_accuracy"]
    torch.save(state, checkpoints / "last.pt")
    (checkpoints / "best_offset.pt").unlink()
    (checkpoints / "best_loss.pt").unlink()
    model = fit(tmp_path, tmp_path / "model", from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": "offset"}))
    history = pd.read_csv(tmp_path / "model" / "training.csv")
    assert len(history) == SETTINGS.epochs and history["val_offset_accuracy"].iloc[:3].isna().all()
    assert kept_epoch(model) == chosen(history.iloc[3:], "offset")
    monkeypatch.setattr(trainer_module, "run_epoch", lambda *a, **k: pytest.fail("trained again"))
    model = fit(tmp_path, tmp_path / "model", from_dict(TrainSettings, {**to_dict(SETTINGS), "best_by": "accuracy"}))
    assert kept_epoch(model) == chosen(history, "accuracy")


@pytest.mark.parametrize("split", ["val", "test"])
def test_the_validation_offset_protocol_is_evaluate_offsets(trained, split):
    root, model, _ = trained
    manifest, shards = root / "clips.parquet", root / "shards"
    record = evaluate_offset(model, manifest, shards, ["000"], "mel", "tdmm", EvalSettings(batch_size=16), split=split)
    net = load_checkpoint(model, torch.device("cpu"))[0]
    visual, audio = open_shards(shards, "tdmm", ["000"]), open_shards(shards, "mel", ["000"])
    clips = clip_table(manifest, [split], visual, audio, open_shards(shards, "tracks", ["000"]), "mel")
    correct, n = split_offset_accuracy(net, clips, visual, audio, "mel", batch_size=7)
    assert n == record["clips"] == 2
    assert correct / n == pytest.approx(record["accuracy_k5"], abs=1e-12)
    # split over two processes: the sums add up to the same accuracy
    halves = [split_offset_accuracy(net, clips, visual, audio, "mel", 16, rank=r, world=2) for r in (0, 1)]
    assert [h[1] for h in halves] == [1, 1]
    assert sum(h[0] for h in halves) / 2 == pytest.approx(record["accuracy_k5"], abs=1e-12)



def test_a_resynced_segment_is_embedded_with_its_audio_shift(trained):
    """clip_table's audio_shift (the resync stage's): the mouth at frame s with the audio at s + shift,
    as training reads it: the visual rows of the segment as it is, the audio rows of the one shifted."""
    root, model, _ = trained
    net = load_checkpoint(model, torch.device("cpu"))[0]
    visual, audio = (open_shards(root / "shards", stage, ["000"])["000"] for stage in ("tdmm", "mel"))
    for shift in (3, -2):
        v, a = segment_embeddings(net, visual, audio, "d1", 4, 20, "mel", 8, audio_shift=shift)
        torch.testing.assert_close(v, segment_embeddings(net, visual, audio, "d1", 4, 20, "mel", 8)[0])
        torch.testing.assert_close(a, segment_embeddings(net, visual, audio, "d1", 4 + shift, 20, "mel", 8)[1])
