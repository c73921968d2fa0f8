"""Training on several processes (torchrun, DDP over gloo on the CPU) follows the loss curve of one
process: same plan, same global batch, batch norm over the global batch. Also the plan's split over
processes, and the cuda-only switches (amp, compile) on the CPU."""
from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import venv_env
from helpers.learnable import write_learnable_corpus

from unisync_model.model.checkpoint import load_model
from unisync_model.model.unisync import UniSync, UniSyncConfig, example_inputs
from unisync_model.settings import ModelSettings, TrainSettings, from_dict, to_dict
from unisync_model.training.trainer import autocast_dtype, maybe_compile, settings_key, train
from unisync_model.training.windows import RankBatches

FRAMES = 60  # per clip: 56 windows
VISUAL = "rgb"
# 56 pairs an epoch: steps of 16, 16, 16 and 8 pairs (8, 8, 8 and 4 each with two processes); the paper's lr.
# Few small steps: one and two processes agree to rtol 1e-3 (float sums in another order). Over many
# steps at a learning rate that learns, Adam amplifies those last digits: on the learnable corpus at
# lr 3e-3, 13 steps an epoch, the curves part by ~5e-4, 2e-3 and 3e-2 of the loss in epochs 1–3.
TINY = TrainSettings(epochs=3, batch_size=16, windows_per_epoch=56, val_pairs=24, workers=0,
                     model=ModelSettings(width=4, embed_dim=16, visual_pool=(12, 12), audio_pool=(8, 8)))
# Learning under torchrun: tdmm (cheapest) with test_learning.py's model; 400 pairs an epoch: 12 steps of
# 32 pairs and one of 16 (16 and 8 each with two processes)
LEARN = TrainSettings(epochs=4, batch_size=32, windows_per_epoch=400, val_pairs=100, workers=0, lr=3e-3,
                      model=ModelSettings(width=4, embed_dim=32, visual_pool=(6, 6), audio_pool=(10, 8)))
CLIPS = [("a0", "spk_a", "train"), ("a1", "spk_a", "train"), ("b0", "spk_b", "train"), ("b1", "spk_b", "train"),
         ("c0", "spk_c", "val"), ("c1", "spk_c", "val")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A learnable corpus (helpers/learnable.py: frames show the symbols their audio carries), rgb,
    tdmm and Mel, one face segment per clip, in one shard; the manifest."""
    return write_learnable_corpus(tmp_path_factory.mktemp("corpus"), CLIPS, FRAMES, visual=(VISUAL, "tdmm"))


def run_train(corpus, out_dir, settings: TrainSettings, processes: int = 1, visual: str = VISUAL) -> str:
    """`unisync train` (processes == 1) or torchrun with `processes` processes, as a user runs them."""
    launcher = ["unisync"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
        "-m", "unisync_model.cli"]
    env = {**venv_env(), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "train", "--manifest", str(corpus / "clips.parquet"),
                             "--shards-dir", str(corpus / "shards"), "--shards", "000", "--audio", "mel",
                             "--visual", visual, "--out-dir", str(out_dir), "--threads", str(processes),
                             "--settings", json.dumps(to_dict(settings))],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def one_process(corpus):
    out = corpus / "one"
    run_train(corpus, out, TINY)
    return out


def test_two_processes_follow_the_loss_curve_of_one(corpus, one_process):
    """Two gloo processes, each half of every batch of 16, batch norm over both halves: the same
    per-epoch losses (and weights) as one process, and a resumed run continues the same curve."""
    two = corpus / "two"
    output = run_train(corpus, two, dataclasses.replace(TINY, epochs=2), processes=2)
    assert "2 processes" in output and "resuming" not in output
    output = run_train(corpus, two, TINY, processes=2)  # one more epoch, from checkpoints/last.pt
    assert "resuming after epoch 2" in output
    single, double = pd.read_csv(one_process / "training.csv"), pd.read_csv(two / "training.csv")
    print("\n", pd.concat({"1 process": single[["train_loss", "val_loss", "val_accuracy"]],
                           "2 processes": double[["train_loss", "val_loss", "val_accuracy"]]}, axis=1))
    assert list(double["epoch"]) == [1, 2, 3] and (double["windows"] == 56).all()
    for column in ("train_loss", "val_loss"):
        np.testing.assert_allclose(double[column], single[column], rtol=1e-3, err_msg=column)
    np.testing.assert_allclose(double["train_accuracy"], single["train_accuracy"], atol=2 / 56)
    np.testing.assert_allclose(double["val_accuracy"], single["val_accuracy"], atol=2 / 24)
    assert single["train_loss"].iloc[-1] != single["train_loss"].iloc[0]  # it moved (learning: test_two_processes_learn)
    a, b = load_model(one_process / "model.pt", torch.device("cpu")), load_model(two / "model.pt", torch.device("cpu"))
    torch.manual_seed(1)
    inputs = example_inputs(a.config, batch=8)
    with torch.no_grad():  # evaluation mode: the running statistics of batch norm agree too
        torch.testing.assert_close(b(*inputs), a(*inputs), rtol=0, atol=1e-3)
    assert not list(two.rglob("*.tmp"))


def test_two_processes_learn(corpus):
    """Two gloo processes learn the learnable corpus's sync, as one does (tests/test_learning.py): from
    chance to telling synced from unsynced validation pairs of an unseen speaker."""
    out = corpus / "learn"
    run_train(corpus, out, LEARN, processes=2, visual="tdmm")
    history = pd.read_csv(out / "training.csv")
    print("\n", history.to_string(index=False))
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert history["val_accuracy"].iloc[0] < 0.75  # 100 pairs: chance is 0.5 ± 0.05
    assert history["val_accuracy"].iloc[-1] > 0.8
    assert history["train_loss"].iloc[-1] < 0.7 * history["train_loss"].iloc[0]
    assert history["val_loss"].iloc[-1] < 0.7 * history["val_loss"].iloc[0]


def _batchnorm_halves(rank: int, init: str, result: str) -> None:
    """Process `rank` of 2 normalises its half of a batch with AllReduceBatchNorm, as in a training
    step, then in evaluation mode; rank 0 saves what it got next to plain BatchNorm on the whole batch."""
    from unisync_model.training.distributed import sync_batchnorm
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    torch.manual_seed(0)
    x = torch.randn(12, 3, 5, 4) * 3 + 1
    reference = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 2), reference.bias.uniform_(-1, 1)
    synced = sync_batchnorm(torch.nn.Sequential(copy.deepcopy(reference)), torch.device("cpu"))
    mine = x[6 * rank: 6 * rank + 6].clone().requires_grad_()
    weights = torch.arange(x.numel()).view_as(x).sin()  # the loss: a weighted sum over the whole batch
    trained = synced(mine)
    (trained * weights[6 * rank: 6 * rank + 6]).sum().backward()  # this process's part of it
    out = synced.eval()(mine.detach())  # evaluation: the running statistics, no communication
    whole = x.clone().requires_grad_()
    expected_trained = reference(whole)
    (expected_trained * weights).sum().backward()
    expected = reference.eval()(x)
    grads = [p.grad.clone() for p in synced.parameters()]
    for g in grads:
        torch.distributed.all_reduce(g)  # the two losses add up to the whole one: their gradients add up too
    if rank == 0:
        torch.save({"trained": trained.detach(), "expected_trained": expected_trained[:6].detach(),
                    "out": out.detach(), "expected": expected[:6].detach(),
                    "grad_x": mine.grad, "expected_grad_x": whole.grad[:6],
                    "grads": grads, "expected_grads": [p.grad for p in reference.parameters()],
                    "buffers": list(synced[0].buffers()), "expected_buffers": list(reference.buffers())}, result)
    torch.distributed.destroy_process_group()


def test_batchnorm_over_two_processes_is_batchnorm_over_the_whole_batch(tmp_path):
    torch.multiprocessing.spawn(_batchnorm_halves, args=(f"file://{tmp_path / 'rendezvous'}",
                                                         str(tmp_path / "rank0.pt")), nprocs=2)
    r = torch.load(tmp_path / "rank0.pt")
    torch.testing.assert_close(r["trained"], r["expected_trained"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(r["out"], r["expected"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(r["grad_x"], r["expected_grad_x"], rtol=1e-4, atol=1e-5)
    for got, expected in zip(r["grads"], r["expected_grads"]):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    for got, expected in zip(r["buffers"], r["expected_buffers"]):  # running mean, unbiased variance, count
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_each_process_takes_its_slice_of_every_global_batch():
    for n, batch, world in [(72, 16, 2), (70, 16, 3), (65, 16, 4), (5, 16, 2), (33, 16, 4)]:
        single = list(RankBatches(n, batch))
        ranks = [RankBatches(n, batch, rank, world) for rank in range(world)]
        steps = [list(r) for r in ranks]
        assert len({len(s) for s in steps}) == 1  # every process takes part in every step
        for k, parts in enumerate(zip(*steps)):
            assert all(parts), "no process gets an empty slice in training"
            assert sum(parts, []) == single[k]  # the one-process batch, in order
            assert ranks[0].global_sizes[k] == len(single[k])
        dropped = ranks[0].dropped
        assert dropped == (len(single[-1]) if len(single[-1]) < world else 0)
        assert sum(ranks[0].global_sizes) + dropped == n
    assert [len(b) for b in RankBatches(33, 16, 3, 4, even=False)] == [4, 4]  # the last pair: rank 0's only
    assert list(RankBatches(33, 16, 0, 4, even=False))[-1] == [32]


def test_amp_and_compile_are_accepted_and_do_nothing_on_the_cpu(corpus, one_process):
    settings = from_dict(TrainSettings, {**to_dict(TINY), "amp": True, "compile": True, "epochs": 1})
    assert autocast_dtype(settings, torch.device("cpu")) is None
    assert settings_key(settings, "mel", VISUAL) == settings_key(TINY, "mel", VISUAL)  # how, not what
    out = corpus / "flags"
    threads = torch.get_num_threads()
    try:  # one thread, like the reference run: results differ in the last digits between thread counts
        train(corpus / "clips.parquet", corpus / "shards", ["000"], "mel", VISUAL, out, settings, threads=1)
    finally:
        torch.set_num_threads(threads)
    first = pd.read_csv(out / "training.csv").iloc[0]
    reference = pd.read_csv(one_process / "training.csv").iloc[0]
    assert first["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-5)
    assert first["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-5)


def test_a_compiled_model_trains_and_keeps_its_state_dict_keys():
    """What `compile` does on cuda, with dynamo's eager backend on the CPU (no code generation)."""
    torch.manual_seed(0)
    model = UniSync(UniSyncConfig("mel", VISUAL, width=4, embed_dim=16, visual_pool=(12, 12), audio_pool=(8, 8)))
    keys = list(model.state_dict())
    assert not maybe_compile(model, True, torch.device("cpu"))  # ignored on the CPU
    assert maybe_compile(model, True, torch.device("cpu"), force=True, backend="eager")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    visual, audio = example_inputs(model.config, batch=4)
    for _ in range(2):
        loss = model(visual, audio).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert list(model.state_dict()) == keys and torch.isfinite(loss)


def test_no_torchrun_means_no_process_group(monkeypatch):
    from unisync_model.training import distributed
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = distributed.setup()
    assert (context.rank, context.world, context.main, context.distributed) == (0, 1, True, False)
    assert not torch.distributed.is_initialized()
    assert distributed.sum_over_ranks([1.0, 2.0], context) == [1.0, 2.0]
    distributed.teardown(context)


def test_a_rerun_with_other_settings_or_fewer_epochs_starts_over(corpus, one_process, caplog):
    """A finished run rerun with another learning rate, or with fewer epochs than checkpoints/last.pt
    holds, trains from scratch: its training.csv has the epochs asked, not the old run's."""
    for name, settings, reason in (("other_lr", dataclasses.replace(TINY, lr=3e-4), "other settings"),
                                   ("fewer", dataclasses.replace(TINY, epochs=TINY.epochs - 1), "more than")):
        out = corpus / name
        shutil.copytree(one_process, out)
        with caplog.at_level("INFO", logger="unisync_model.training.trainer"):
            train(corpus / "clips.parquet", corpus / "shards", ["000"], "mel", VISUAL, out, settings, threads=1)
        assert reason in caplog.text and "resuming" not in caplog.text, name
        caplog.clear()
        history = pd.read_csv(out / "training.csv")
        assert list(history["epoch"]) == list(range(1, settings.epochs + 1)), name
        assert torch.load(out / "model.pt", weights_only=True)["epoch"] <= settings.epochs


def test_keep_last_makes_the_last_epoch_model_pt_and_resumes_without_retraining(corpus, one_process):
    """train.keep: model.pt is the best validation epoch (best) or the last epoch (last). Switching a
    finished run to `last` trains nothing more (keep is not part of the resume key) and writes the
    last epoch's weights, those of checkpoints/last.pt."""
    best = torch.load(one_process / "model.pt", weights_only=True)
    history = pd.read_csv(one_process / "training.csv")
    assert best["epoch"] == int(history.loc[history["val_loss"].idxmin(), "epoch"])  # the first best (best_by: loss)
    out = corpus / "keep_last"
    shutil.copytree(one_process, out)
    settings = dataclasses.replace(TINY, keep="last")
    assert settings_key(settings, "mel", VISUAL) == settings_key(TINY, "mel", VISUAL)
    train(corpus / "clips.parquet", corpus / "shards", ["000"], "mel", VISUAL, out, settings, threads=1)
    kept = torch.load(out / "model.pt", weights_only=True)
    last = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert kept["epoch"] == TINY.epochs and len(pd.read_csv(out / "training.csv")) == TINY.epochs  # nothing retrained
    assert all(torch.equal(kept["state_dict"][k], v) for k, v in last["state_dict"].items())
    with pytest.raises(ValueError, match="train.keep must be one of"):
        train(corpus / "clips.parquet", corpus / "shards", ["000"], "mel", VISUAL, out,
              dataclasses.replace(TINY, keep="median"), threads=1)
