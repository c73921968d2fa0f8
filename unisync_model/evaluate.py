"""The binary protocol on the test split: balanced random synced / unsynced pairs (fixed seed),
correct when (p >= threshold) == synced. Unsynced pairs take the same clip's audio shifted by at
least `min_shift` frames (5 by default: no overlap with the synced window)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from unisync_model.checkpoint import load_model, pick_device
from unisync_model.data import WindowDataset, clip_table, open_shards, worker_init
from unisync_model.pairs import binary_protocol_plan
from unisync_model.settings import EvalSettings, to_dict

BINARY = "binary"


@torch.no_grad()
def score_plan(model, dataset: WindowDataset, batch_size: int, workers: int) -> np.ndarray:
    device = next(model.parameters()).device
    batches = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                         worker_init_fn=worker_init if workers else None)
    return np.concatenate([model(v.to(device), a.to(device)).cpu().numpy() for v, a, _, _ in batches])


def evaluate_binary(model_path: str | Path, manifest: str | Path, shards_dir: str | Path, shards: list[str],
                    audio: str, visual: str, settings: EvalSettings, split: str = "test", workers: int = 0) -> dict:
    model = load_model(model_path, pick_device())
    trained_with = torch.load(model_path, map_location="cpu", weights_only=True).get("settings") or {}
    visual_readers, audio_readers = open_shards(shards_dir, visual, shards), open_shards(shards_dir, audio, shards)
    tracks = open_shards(shards_dir, "tracks", shards)
    clips = clip_table(manifest, [split], visual_readers, audio_readers, tracks, audio)
    if clips.empty:
        raise ValueError(f"no usable clip in the {split} split")
    plan = binary_protocol_plan(clips, settings.pairs, settings.seed, settings.min_shift)
    p = score_plan(model, WindowDataset(clips, plan, visual_readers, audio_readers, audio),
                   settings.batch_size, workers)
    correct = (p >= settings.threshold).astype(int) == plan.label
    return {"protocol": BINARY, "audio": audio, "visual": visual, "split": split, "seed": trained_with.get("seed"),
            "accuracy": float(correct.mean()), "pairs": len(plan),
            "accuracy_synced": float(correct[plan.label == 1].mean()),
            "accuracy_unsynced": float(correct[plan.label == 0].mean()),
            "mean_p_synced": float(p[plan.label == 1].mean()), "mean_p_unsynced": float(p[plan.label == 0].mean()),
            "clips": int(clips["clip_id"].nunique()), "segments": len(clips), "speakers": int(clips["speaker"].nunique()), "settings": to_dict(settings)}


def write_json(record: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
