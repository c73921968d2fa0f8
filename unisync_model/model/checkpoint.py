"""Saving and loading models: a plain dict of tensors and primitives, read with weights_only=True,
written to a temporary file and renamed so a crash never leaves a truncated checkpoint."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from unisync_model import __version__
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.device import pick_device
from unisync_model.model.unisync import UniSync, UniSyncConfig


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save `obj` to `path` through a temporary file (io.atomic_files.write_atomic)."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def model_record(model: UniSync, **extra: Any) -> dict[str, Any]:
    config = dataclasses.asdict(model.config)
    return {"unisync_version": __version__, "config": config,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}


def load_checkpoint(path: str | Path, device: torch.device | None = None) -> tuple[UniSync, dict[str, Any]]:
    """The model of a checkpoint, in eval mode on `device`, and the record it came in (epoch, settings, …)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    config = record["config"]
    config = UniSyncConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    model = UniSync(config)
    model.load_state_dict(record["state_dict"])
    return model.to(device or pick_device()).eval(), record


def load_model(path: str | Path, device: torch.device | None = None) -> UniSync:
    return load_checkpoint(path, device)[0]
