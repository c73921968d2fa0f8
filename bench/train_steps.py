"""(c) Training steps per second, Mel × RGB, batches of 64, on the CPU.

Two ways per model width: the whole training step as `unisync train` runs it (train.run_epoch over
data.window_loader with two workers: read, forward, margin BCE, backward, Adam), and the model alone
on one batch kept in memory (forward, loss, backward, Adam), which shows how much of a step is the
loader's. Widths: 16 (config.yaml's demo model) and 64 (the paper's size). Data: synthetic shards of
the stages' shapes (synthetic_shards.py) in a temporary folder. Every width first runs WARMUP steps.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine, table, write_section
from synthetic_shards import write_synthetic_corpus

from unisync_model.model.margin_bce import margin_bce
from unisync_model.model.unisync import UniSync, UniSyncConfig
from unisync_model.settings import TrainSettings
from unisync_model.training import distributed
from unisync_model.training.pairs import training_plan
from unisync_model.training.trainer import Step, margins_by_kind, run_epoch
from unisync_model.training.windows import RankBatches, WindowDataset, clip_table, open_shards, window_loader

WARMUP = 2


def optimiser(model: UniSync, settings: TrainSettings) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=settings.lr, betas=tuple(settings.betas),
                            weight_decay=settings.weight_decay)


def full_steps(model, clips, readers, steps: int, settings: TrainSettings, seed: int) -> float:
    """Steps per second of run_epoch over a fresh plan of `steps` batches (loader included)."""
    device = torch.device("cpu")
    plan = training_plan(clips, steps * settings.batch_size, np.random.default_rng(seed), settings.negatives)
    loader = window_loader(WindowDataset(clips, plan, *readers, "mel"), RankBatches(len(plan), settings.batch_size),
                           settings.workers, device)
    step = Step(model, distributed.Context(device=device))
    began = time.perf_counter()
    run_epoch(step, loader, margins_by_kind(settings), device, optimiser(model, settings))
    return steps / (time.perf_counter() - began)


def model_steps(model, batch, steps: int, settings: TrainSettings) -> float:
    """Steps per second of forward, loss, backward and Adam on one batch held in memory."""
    visual, audio, label, kind = batch
    margins = margins_by_kind(settings)[kind]
    opt = optimiser(model, settings)
    model.train()
    for k in range(WARMUP + steps):
        if k == WARMUP:
            began = time.perf_counter()
        loss = margin_bce(model(visual, audio), label, margins)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 8], help="steps per width, in order")
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    settings = TrainSettings()
    info = {**machine(), "torch threads": str(torch.get_num_threads())}
    rows = []
    with tempfile.TemporaryDirectory(prefix="unisync-bench-train-") as tmp:
        manifest, shards_dir, names = write_synthetic_corpus(Path(tmp))
        readers = open_shards(shards_dir, "rgb", names), open_shards(shards_dir, "mel", names)
        clips = clip_table(manifest, ["train"], *readers, open_shards(shards_dir, "tracks", names), "mel")
        for width, steps in zip(args.widths, args.steps):
            torch.manual_seed(0)
            model = UniSync(UniSyncConfig(audio="mel", visual="rgb", width=width))
            full_steps(model, clips, readers, WARMUP, settings, seed=1)  # warm-up: allocator, worker start
            full = full_steps(model, clips, readers, steps, settings, seed=2)
            plan = training_plan(clips, settings.batch_size, np.random.default_rng(3), settings.negatives)
            batch = WindowDataset(clips, plan, *readers, "mel").__getitems__(list(range(len(plan))))
            alone = model_steps(model, batch, steps, settings)
            rows.append({"width": width, "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
                         "steps": steps, "steps/s (train loop, 2 workers)": full,
                         "windows/s (train loop)": full * settings.batch_size, "steps/s (model alone)": alone,
                         "loader share of a step": max(0.0, 1 - full / alone)})
            print(table(rows[-1:], floatfmt=".3f"))
    text = table(rows, floatfmt=".3f")
    print("\n" + text)
    if args.no_record:
        return
    body = (f"Mel × RGB, batches of {settings.batch_size}, Adam (lr {settings.lr}, betas {settings.betas}, weight "
            f"decay {settings.weight_decay}), margin BCE, fp32 on the CPU. 'train loop': `train.run_epoch` over "
            f"`data.window_loader` with {settings.workers} workers, as `unisync train` runs an epoch; 'model alone': "
            f"one batch held in memory. No target was set for this one.\n\n{text}\n\n{NOTES}\n")
    write_section("train_steps", "(c) Training steps per second", body, info)


NOTES = """\
Where the time goes: in the model (forward, backward, Adam). The loader delivers thousands of
windows per second (benchmark (b)) and a step consumes 64; what the train loop loses against the
model alone is the two loader workers taking CPU time from the training threads on two cores, not
waiting for data. At width 64 (the paper's size: 3.3 GFLOPs per sample forward, about three times
that with the backward pass) a 2-core CPU is not where this model is meant to be trained: use a GPU
(`train.amp`, `train.compile`)."""


if __name__ == "__main__":
    main()
