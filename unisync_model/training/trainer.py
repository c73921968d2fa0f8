"""Training one audio × visual combination, resumable after an interruption.

Every epoch draws a fresh plan of pairs (pairs.training_plan), trains on it with the margin BCE,
scores the validation split with the binary protocol (loss and accuracy on val_pairs pairs) and the
offset protocol (every window of every validation segment: validation.py), appends a row to
training.csv and saves checkpoints/last.pt; the best validation epoch by `best_by` (accuracy, offset
or loss) is kept as model.pt. The best epoch of every criterion is kept in checkpoints/ (best.pt:
accuracy, best_offset.pt, best_loss.pt), so switching `best_by` or `keep` trains nothing again. A
rerun with the same settings resumes from last.pt (with more epochs, it goes on); with different
settings (apart from the epoch count, keep, best_by and how training runs: workers, amp, compile,
sync_batchnorm, the number of processes), or fewer epochs than last.pt holds, it starts over.

Several GPUs: `torchrun --standalone --nproc_per_node N -m unisync_model.cli train …` (see
distributed.py). Every process draws the same plan from the seed; each takes its own contiguous
slice of every global batch of `batch_size` pairs (windows.RankBatches), DDP averages the gradients
(each process's loss weighted by its share of the batch, so the step is the one-process step) and
batch norm uses the statistics of the global batch (`sync_batchnorm`). N processes therefore
follow the loss curve of one process with the same settings: `batch_size` is the global batch, not
the per-GPU one (to keep each GPU's batch when adding GPUs, raise batch_size). Validation is split
across processes and summed. Only rank 0 logs and writes checkpoints, training.csv and model.pt.

On cuda the forward pass runs under autocast (`amp`: bf16, or fp16 with a GradScaler) and the model
may be compiled (`compile`); on the CPU both are no-ops.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.progress import progress
from unisync_model.io.shards import ShardReader
from unisync_model.model.checkpoint import atomic_save, model_record
from unisync_model.model.margin_bce import margin_bce
from unisync_model.model.unisync import ARCHITECTURE, UniSync, UniSyncConfig
from unisync_model.settings import WINDOW_FRAMES, TrainSettings, to_dict
from unisync_model.training import distributed
from unisync_model.training.pairs import (CROSS_SPEAKER, SAME_NO_OVERLAP, SAME_OVERLAP, binary_protocol_plan,
                                          training_plan)
from unisync_model.training.validation import split_offset_accuracy
from unisync_model.training.resync_table import read_decisions
from unisync_model.training.windows import RankBatches, WindowDataset, clip_table, open_shards, window_loader

log = logging.getLogger(__name__)
LOG_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "windows", "seconds",
               "val_offset_accuracy"]
# Not part of the resume key. keep and best_by only choose which epoch's weights become model.pt, not what is
# learned: every epoch logs all three criteria and each keeps its best epoch's weights, so a switch resumes
# (or, with every epoch done, only writes model.pt again) instead of training again.
RUNTIME_SETTINGS = ("epochs", "workers", "amp", "compile", "sync_batchnorm", "keep", "best_by")
KEEP = ("best", "last")
# best_by: the training.csv column judged, whether higher is better, and the checkpoint of its best epoch
BEST_BY = {"accuracy": ("val_accuracy", True, "best.pt"), "offset": ("val_offset_accuracy", True, "best_offset.pt"),
           "loss": ("val_loss", False, "best_loss.pt")}


def margins_by_kind(settings: TrainSettings) -> torch.Tensor:
    margins = torch.zeros(4)
    margins[SAME_OVERLAP] = margins[SAME_NO_OVERLAP] = settings.margins.same_speaker
    margins[CROSS_SPEAKER] = settings.margins.cross_speaker
    return margins


def settings_key(settings: TrainSettings, audio: str, visual: str, resync: pd.DataFrame | None = None) -> str:
    """What a checkpoint must share with this run to be resumed: everything but the epoch count and
    how training runs (RUNTIME_SETTINGS; the number of processes is not a setting either), the
    model's layer layout (a last.pt of another layout starts over) and the resync decisions' shifts
    and drops (other decisions: other data)."""
    fields = {k: v for k, v in to_dict(settings).items() if k not in RUNTIME_SETTINGS}
    data = None if resync is None else resync[["clip_id", "first_frame", "decision", "audio_shift"]].to_json(
        orient="values")
    parts = [audio, visual, fields, ARCHITECTURE] + ([data] if data is not None else [])
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def frame_shape(readers: dict[str, ShardReader]) -> tuple[int, ...]:
    """One frame's shape in a stage's shards (from a shard that holds a clip)."""
    return next(r.frame_shape for r in readers.values() if len(r))


def autocast_dtype(settings: TrainSettings, device: torch.device) -> torch.dtype | None:
    """The autocast dtype on cuda with `amp` (bf16 where the GPU has it, else fp16); None: fp32."""
    if not settings.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def maybe_compile(model: nn.Module, enabled: bool, device: torch.device, force: bool = False,
                  backend: str = "inductor") -> bool:
    """torch.compile the model in place (nn.Module.compile: the state dict keys stay as they are)
    when asked to, on cuda; `force` compiles on any device (tests, with backend "eager")."""
    if not enabled or (device.type != "cuda" and not force):
        if enabled:
            log.info("compile: ignored on %s", device.type)
        return False
    model.compile(backend=backend)
    return True


class Step:
    """What a training or validation pass needs besides the batches: the model to call (DDP-wrapped
    under torchrun), autocast, the GradScaler (fp16 only) and the process context."""

    def __init__(self, model: nn.Module, context: distributed.Context, amp: torch.dtype | None = None,
                 scaler: torch.amp.GradScaler | None = None):
        self.model, self.context, self.amp, self.scaler = model, context, amp, scaler

    def autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.context.device.type, dtype=self.amp)


def run_epoch(model: nn.Module | Step, batches: DataLoader, margins: torch.Tensor, device: torch.device,
              optimizer: torch.optim.Optimizer | None = None, desc: str = "") -> tuple[float, float]:
    """One pass; trains when an optimizer is given. Returns (mean loss, accuracy at p >= 0.5), over
    every process's pairs. With several processes, each one's batch loss is weighted by its share of
    the global batch (the size of which the RankBatches sampler knows) before DDP averages the
    gradients, so a step is the one-process step even when the slices are uneven."""
    step = model if isinstance(model, Step) else Step(model, distributed.Context(device=device))
    context = step.context
    sampler = batches.batch_sampler
    world = context.world
    global_sizes = iter(sampler.global_sizes) if isinstance(sampler, RankBatches) else None
    step.model.train(optimizer is not None)
    total_loss = correct = seen = 0.0
    with torch.set_grad_enabled(optimizer is not None):
        for visual, audio, label, kind in progress(batches, desc=desc, unit="batch", leave=False,
                                                   disable=not context.main):
            visual, audio = visual.to(device, non_blocking=True), audio.to(device, non_blocking=True)
            label = label.to(device)
            with step.autocast():
                p = step.model(visual, audio)
            p = p.float()  # no-op without autocast; the loss is computed in fp32
            loss = margin_bce(p, label, margins.to(device)[kind.to(device)])
            if optimizer is not None:
                objective = loss
                if world > 1 and global_sizes is not None:
                    objective = loss * (len(label) * world / next(global_sizes))
                optimizer.zero_grad(set_to_none=True)
                if step.scaler is not None:
                    step.scaler.scale(objective).backward()
                    step.scaler.step(optimizer)
                    step.scaler.update()
                else:
                    objective.backward()
                    optimizer.step()
            total_loss += float(loss.detach()) * len(label)
            correct += float(((p >= 0.5).long() == label).sum())
            seen += len(label)
    total_loss, correct, seen = distributed.sum_over_ranks([total_loss, correct, seen], context)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def train(manifest: str | Path, shards_dir: str | Path, shards: list[str], audio: str, visual: str,
          out_dir: str | Path, settings: TrainSettings, threads: int = 0, resync: str | Path | None = None) -> Path:
    """Train one combination; under torchrun, as one of several processes (distributed.py). `resync`:
    the resync stage's decisions.csv (scoring/resync.py): its dropped segments are left out of the
    train and val splits and its shifted ones read their audio shifted."""
    if settings.keep not in KEEP:
        raise ValueError(f"train.keep must be one of {KEEP}, not {settings.keep!r}")
    if settings.best_by not in BEST_BY:
        raise ValueError(f"train.best_by must be one of {tuple(BEST_BY)}, not {settings.best_by!r}")
    context = distributed.setup()
    try:
        return _train(context, manifest, shards_dir, shards, audio, visual, out_dir, settings, threads, resync)
    finally:
        distributed.teardown(context)


def _train(context: distributed.Context, manifest: str | Path, shards_dir: str | Path, shards: list[str],
           audio: str, visual: str, out_dir: str | Path, settings: TrainSettings, threads: int,
           resync: str | Path | None) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if threads:  # the rule's threads are shared by the processes of a torchrun job
        torch.set_num_threads(max(1, threads // context.world))
    device = context.device
    torch.manual_seed(settings.seed)
    visual_readers, audio_readers = open_shards(shards_dir, visual, shards), open_shards(shards_dir, audio, shards)
    tracks = open_shards(shards_dir, "tracks", shards)
    decisions = read_decisions(resync) if resync else None
    train_clips = clip_table(manifest, ["train"], visual_readers, audio_readers, tracks, audio, decisions)
    val_clips = clip_table(manifest, ["val"], visual_readers, audio_readers, tracks, audio, decisions)
    if train_clips.empty or val_clips.empty:
        raise ValueError(f"need clips in both the train ({len(train_clips)}) and val ({len(val_clips)}) splits")
    log.info("train: %d clips (%d face segments), %d speakers, %d windows; val: %d clips",
             train_clips["clip_id"].nunique(), len(train_clips), train_clips["speaker"].nunique(),
             train_clips["windows"].sum(), val_clips["clip_id"].nunique())

    shapes = {"visual_frame": frame_shape(visual_readers), "audio_frame": frame_shape(audio_readers)}
    model = UniSync(UniSyncConfig.from_settings(audio, visual, settings.model, **shapes)).to(device)
    if context.distributed and settings.sync_batchnorm:
        model = distributed.sync_batchnorm(model, device)  # same parameters and buffers, same state dict
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=tuple(settings.betas),
                                 weight_decay=settings.weight_decay)
    amp = autocast_dtype(settings, device)
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
    margins = margins_by_kind(settings)
    key = settings_key(settings, audio, visual, decisions)

    last = out_dir / "checkpoints" / "last.pt"
    history: list[dict] = []
    start_epoch, best = 0, {}  # best: criterion → its best value so far (the weights: BEST_BY's file)
    if last.exists():  # every process reads it (rank 0 writes it only after a step all of them take part in)
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state.get("settings_key") == key and state["epoch"] + 1 > settings.epochs:
            log.info("%s has %d epochs, more than the %d asked: starting over", last, state["epoch"] + 1,
                     settings.epochs)
        elif state.get("settings_key") == key:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            if scaler is not None and state.get("grad_scaler"):
                scaler.load_state_dict(state["grad_scaler"])
            start_epoch, history = state["epoch"] + 1, state["history"]
            # a last.pt of before best_by holds only best_accuracy: the other criteria start at this epoch
            best = state.get("best", {"accuracy": state["best_accuracy"]})
            log.info("resuming after epoch %d from %s", state["epoch"] + 1, last)
        else:
            log.info("%s was made with other settings: starting over", last)

    maybe_compile(model, settings.compile, device)
    trained = model
    if context.distributed:
        # synced batch norm keeps the running statistics equal on every process: no buffer broadcast per step
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                          forward_sync_buffers=not settings.sync_batchnorm)
        log.info("%d processes, %d pairs per step (%d per process), batch norm %s", context.world,
                 settings.batch_size, settings.batch_size // context.world,
                 "over the global batch" if settings.sync_batchnorm else "per process")
    if amp is not None:
        log.info("mixed precision: %s", str(amp).removeprefix("torch."))
    train_step = Step(trained, context, amp, scaler)
    val_step = Step(model, context, amp)  # evaluation needs no gradient sync: the bare model

    val_plan = binary_protocol_plan(val_clips, settings.val_pairs, settings.seed + 1, min_shift=WINDOW_FRAMES)
    val_batches = window_loader(WindowDataset(val_clips, val_plan, visual_readers, audio_readers, audio),
                                RankBatches(len(val_plan), settings.batch_size, context.rank, context.world,
                                            even=False),
                                settings.workers, device, persistent=True)
    windows = settings.windows_per_epoch or int(train_clips["windows"].sum())
    for epoch in range(start_epoch, settings.epochs):
        began = pd.Timestamp.now()
        plan = training_plan(train_clips, windows, np.random.default_rng([settings.seed, epoch]),
                             settings.negatives, settings.positive_fraction)
        steps = RankBatches(len(plan), settings.batch_size, context.rank, context.world)
        if steps.dropped:
            log.info("the last %d pairs of the epoch are fewer than the processes: left out", steps.dropped)
        batches = window_loader(WindowDataset(train_clips, plan, visual_readers, audio_readers, audio), steps,
                                settings.workers, device)
        train_loss, train_acc = run_epoch(train_step, batches, margins, device, optimizer,
                                          desc=f"epoch {epoch + 1}/{settings.epochs}")
        val_loss, val_acc = run_epoch(val_step, val_batches, margins, device, desc="val")
        with val_step.autocast():
            correct, clips = split_offset_accuracy(model, val_clips, visual_readers, audio_readers, audio,
                                                   settings.batch_size, rank=context.rank, world=context.world)
        correct, clips = distributed.sum_over_ranks([correct, clips], context)
        val_offset = correct / max(clips, 1)
        seconds = (pd.Timestamp.now() - began).total_seconds()
        row = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
               "val_accuracy": val_acc, "windows": windows, "seconds": seconds, "val_offset_accuracy": val_offset}
        history.append(row)
        log.info("epoch %d: train loss %.4f acc %.3f | val loss %.4f acc %.3f offset acc %.3f | %.0f s", epoch + 1,
                 train_loss, train_acc, val_loss, val_acc, val_offset, seconds)
        for criterion, (column, higher, name) in BEST_BY.items():
            value, so_far = row[column], best.get(criterion)
            if so_far is None or (value > so_far if higher else value < so_far):
                best[criterion] = value
                if context.main:
                    atomic_save(model_record(model, epoch=epoch + 1, val_accuracy=val_acc, val_loss=val_loss,
                                             val_offset_accuracy=val_offset, settings=to_dict(settings)),
                                last.parent / name)
        if context.main:
            state = {"settings_key": key, "epoch": epoch, "state_dict": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                     "best": best, "best_accuracy": best["accuracy"], "history": history}
            if scaler is not None:
                state["grad_scaler"] = scaler.state_dict()
            atomic_save(state, last)
            write_log(history, out_dir / "training.csv")

    final = out_dir / "model.pt"
    if context.main:
        write_log(history, out_dir / "training.csv")
        if settings.keep == "last":
            row = history[-1]
            atomic_save(model_record(model, epoch=len(history), val_accuracy=row["val_accuracy"],
                                     val_loss=row["val_loss"], val_offset_accuracy=row.get("val_offset_accuracy"),
                                     settings=to_dict(settings)), final)
        else:
            kept = last.parent / BEST_BY[settings.best_by][2]
            if not kept.exists():  # resumed from a last.pt of before best_by with every epoch done
                log.warning("no %s (its epochs were trained before best_by): model.pt is the best by accuracy", kept)
                kept = last.parent / BEST_BY["accuracy"][2]
            write_atomic(final, lambda tmp: shutil.copyfile(kept, tmp))
    distributed.barrier(context)  # the others return once model.pt is there
    return final


def write_log(history: list[dict], path: Path) -> None:
    write_atomic(path, lambda tmp: pd.DataFrame(history, columns=LOG_COLUMNS).to_csv(tmp, index=False))
