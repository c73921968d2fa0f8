"""Saving and loading models: a plain dict of tensors and primitives, read with weights_only=True,
written to a temporary file and renamed so a crash never leaves a truncated checkpoint.

Every checkpoint records the layer layout it was saved with (`unisync.ARCHITECTURE`; none recorded
means layout 1); one of another layout is refused with a message naming what changed, rather than
torch's list of mismatched tensors."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from unisync_model import __version__
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.device import pick_device
from unisync_model.model.unisync import ARCHITECTURE, ARCHITECTURE_CHANGES, UniSync, UniSyncConfig


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save `obj` to `path` through a temporary file (io.atomic_files.write_atomic)."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def model_record(model: UniSync, **extra: Any) -> dict[str, Any]:
    config = dataclasses.asdict(model.config)
    return {"unisync_version": __version__, "architecture": ARCHITECTURE, "config": config,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}


def load_checkpoint(path: str | Path, device: torch.device | None = None) -> tuple[UniSync, dict[str, Any]]:
    """The model of a checkpoint, in eval mode on `device`, and the record it came in (epoch, settings, …)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    check_architecture(record, path)
    config = record["config"]
    config = UniSyncConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    model = UniSync(config)
    model.load_state_dict(record["state_dict"])
    return model.to(device or pick_device()).eval(), record


class ArchitectureMismatch(ValueError):
    """A checkpoint saved with another layer layout than this version of UniSync builds."""


def check_architecture(record: dict[str, Any], path: str | Path) -> None:
    """Raise ArchitectureMismatch, naming the changes in between, unless `record` has this layout."""
    saved = record.get("architecture", 1)
    if saved == ARCHITECTURE:
        return
    if not isinstance(saved, int) or saved > ARCHITECTURE:
        raise ArchitectureMismatch(
            f"{path}: saved with UniSync layer layout {saved!r} (unisync {record.get('unisync_version', '?')}), "
            f"which this version (layout {ARCHITECTURE}) does not know: load it with the unisync that made it")
    changes = "; ".join(f"layout {v}: {ARCHITECTURE_CHANGES.get(v, 'changes not recorded')}"
                        for v in range(max(saved, 0) + 1, ARCHITECTURE + 1))
    raise ArchitectureMismatch(
        f"{path}: saved with UniSync layer layout {saved} (unisync {record.get('unisync_version', '?')}), "
        f"but this version builds layout {ARCHITECTURE}, whose weights have other shapes ({changes}). "
        f"Retrain the model (its training settings are in the checkpoint), or load it with the unisync that made it.")


def load_model(path: str | Path, device: torch.device | None = None) -> UniSync:
    return load_checkpoint(path, device)[0]
