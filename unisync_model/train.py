"""Training one audio × visual combination, resumable after an interruption.

Every epoch draws a fresh plan of pairs (pairs.training_plan), trains on it with the margin BCE,
scores the validation split with the binary protocol, appends a row to training.csv and saves
checkpoints/last.pt; the best validation epoch is kept as model.pt. A rerun with the same settings
resumes from last.pt; with different settings (apart from the epoch count) it starts over.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from unisync_model.checkpoint import atomic_save, model_record, pick_device
from unisync_model.data import WindowDataset, clip_table, open_shards, worker_init
from unisync_model.loss import margin_bce
from unisync_model.model import UniSync, UniSyncConfig
from unisync_model.pairs import CROSS_SPEAKER, SAME_NO_OVERLAP, SAME_OVERLAP, binary_protocol_plan, training_plan
from unisync_model.progress import progress
from unisync_model.settings import WINDOW_FRAMES, TrainSettings, to_dict
from unisync_model.shards import ShardReader

log = logging.getLogger(__name__)
LOG_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "windows", "seconds"]


def margins_by_kind(settings: TrainSettings) -> torch.Tensor:
    margins = torch.zeros(4)
    margins[SAME_OVERLAP] = margins[SAME_NO_OVERLAP] = settings.margins.same_speaker
    margins[CROSS_SPEAKER] = settings.margins.cross_speaker
    return margins


def settings_key(settings: TrainSettings, audio: str, visual: str) -> str:
    """What a checkpoint must share with this run to be resumed: everything but the epoch count."""
    fields = {k: v for k, v in to_dict(settings).items() if k not in ("epochs", "workers")}
    return hashlib.sha256(json.dumps([audio, visual, fields], sort_keys=True).encode()).hexdigest()[:16]


def frame_shape(readers: dict[str, ShardReader]) -> tuple[int, ...]:
    """One frame's shape in a stage's shards (from a shard that holds a clip)."""
    return next(tuple(r._data().shape[1:]) for r in readers.values() if len(r))


def loader(dataset: WindowDataset, batch_size: int, workers: int, device: torch.device) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                      worker_init_fn=worker_init if workers else None, pin_memory=device.type == "cuda",
                      prefetch_factor=4 if workers else None, persistent_workers=False)


def run_epoch(model: UniSync, batches: DataLoader, margins: torch.Tensor, device: torch.device,
              optimizer: torch.optim.Optimizer | None = None, desc: str = "") -> tuple[float, float]:
    """One pass; trains when an optimizer is given. Returns (mean loss, accuracy at p >= 0.5)."""
    model.train(optimizer is not None)
    total_loss = correct = seen = 0.0
    with torch.set_grad_enabled(optimizer is not None):
        for visual, audio, label, kind in progress(batches, desc=desc, unit="batch", leave=False):
            visual, audio = visual.to(device, non_blocking=True), audio.to(device, non_blocking=True)
            label = label.to(device)
            p = model(visual, audio)
            loss = margin_bce(p, label, margins.to(device)[kind.to(device)])
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += float(loss.detach()) * len(label)
            correct += float(((p >= 0.5).long() == label).sum())
            seen += len(label)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def train(manifest: str | Path, shards_dir: str | Path, shards: list[str], audio: str, visual: str,
          out_dir: str | Path, settings: TrainSettings, threads: int = 0) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    device = pick_device()
    torch.manual_seed(settings.seed)
    visual_readers, audio_readers = open_shards(shards_dir, visual, shards), open_shards(shards_dir, audio, shards)
    tracks = open_shards(shards_dir, "tracks", shards)
    train_clips = clip_table(manifest, ["train"], visual_readers, audio_readers, tracks, audio)
    val_clips = clip_table(manifest, ["val"], visual_readers, audio_readers, tracks, audio)
    if train_clips.empty or val_clips.empty:
        raise ValueError(f"need clips in both the train ({len(train_clips)}) and val ({len(val_clips)}) splits")
    log.info("train: %d clips (%d face segments), %d speakers, %d windows; val: %d clips",
             train_clips["clip_id"].nunique(), len(train_clips), train_clips["speaker"].nunique(),
             train_clips["windows"].sum(), val_clips["clip_id"].nunique())

    shapes = {"visual_frame": frame_shape(visual_readers), "audio_frame": frame_shape(audio_readers)}
    model = UniSync(UniSyncConfig.from_settings(audio, visual, settings.model, **shapes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=tuple(settings.betas),
                                 weight_decay=settings.weight_decay)
    margins = margins_by_kind(settings)
    key = settings_key(settings, audio, visual)

    last, best = out_dir / "checkpoints" / "last.pt", out_dir / "checkpoints" / "best.pt"
    history: list[dict] = []
    start_epoch, best_accuracy = 0, -1.0
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state.get("settings_key") == key:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            start_epoch, best_accuracy, history = state["epoch"] + 1, state["best_accuracy"], state["history"]
            log.info("resuming after epoch %d from %s", state["epoch"] + 1, last)
        else:
            log.info("%s was made with other settings: starting over", last)

    val_plan = binary_protocol_plan(val_clips, settings.val_pairs, settings.seed + 1, min_shift=WINDOW_FRAMES)
    val_batches = loader(WindowDataset(val_clips, val_plan, visual_readers, audio_readers, audio),
                         settings.batch_size, settings.workers, device)
    windows = settings.windows_per_epoch or int(train_clips["windows"].sum())
    for epoch in range(start_epoch, settings.epochs):
        began = pd.Timestamp.now()
        plan = training_plan(train_clips, windows, np.random.default_rng([settings.seed, epoch]),
                             settings.negatives, settings.positive_fraction)
        batches = loader(WindowDataset(train_clips, plan, visual_readers, audio_readers, audio),
                         settings.batch_size, settings.workers, device)
        train_loss, train_acc = run_epoch(model, batches, margins, device, optimizer,
                                          desc=f"epoch {epoch + 1}/{settings.epochs}")
        val_loss, val_acc = run_epoch(model, val_batches, margins, device, desc="val")
        seconds = (pd.Timestamp.now() - began).total_seconds()
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
                        "val_loss": val_loss, "val_accuracy": val_acc, "windows": windows, "seconds": seconds})
        log.info("epoch %d: train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.0f s", epoch + 1,
                 train_loss, train_acc, val_loss, val_acc, seconds)
        if val_acc > best_accuracy:
            best_accuracy = val_acc
            atomic_save(model_record(model, epoch=epoch + 1, val_accuracy=val_acc, settings=to_dict(settings)), best)
        atomic_save({"settings_key": key, "epoch": epoch, "state_dict": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                     "best_accuracy": best_accuracy, "history": history}, last)
        write_log(history, out_dir / "training.csv")

    write_log(history, out_dir / "training.csv")
    final = out_dir / "model.pt"
    tmp = final.with_name("model.pt.tmp")
    shutil.copyfile(best, tmp)
    os.replace(tmp, final)
    return final


def write_log(history: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pd.DataFrame(history, columns=LOG_COLUMNS).to_csv(tmp, index=False)
    os.replace(tmp, path)
