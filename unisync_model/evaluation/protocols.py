"""Both accuracy protocols on the test split, each to its own JSON (the record's "protocol" names it).

- binary (`evaluate_binary`; Wav2Lip, LatentSync, the paper): balanced random synced / unsynced
  pairs (fixed seed), correct when (p >= threshold) == synced. Unsynced pairs take the same clip's
  audio shifted by at least `min_shift` frames (5 by default: no overlap with the synced window).
- offset (`evaluate_offset`; SyncNet, Perfect Match, AVST, VocaLiST on LRS2): every window of every
  test clip scores the audio at shifts −15…+15 frames, with K = 5 and 15 frames of context, correct
  when |predicted offset| <= 1; the mean over clips of each clip's share of correct windows. The
  same embeddings give syncnet_python's LSE-D / LSE-C (distance of L2-normalised UniSync
  embeddings; not on SyncNet's scale). Definitions and conventions: `model/lse.py`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.device import pick_device
from unisync_model.io.progress import progress
from unisync_model.model.checkpoint import load_checkpoint
from unisync_model.model.lse import (CONTEXTS, TOLERANCE, VSHIFT, offset_accuracy, offset_counts, shift_scores,
                                     syncnet_lse)
from unisync_model.settings import EvalSettings, to_dict
from unisync_model.training.pairs import binary_protocol_plan
from unisync_model.training.validation import segment_embeddings
from unisync_model.training.windows import RankBatches, WindowDataset, clip_table, open_shards, window_loader

BINARY = "binary"
OFFSET = "offset"
LSE_DISTANCE = "euclidean distance of L2-normalised UniSync embeddings (sqrt(2 - 2 p_sync)); not SyncNet's scale"


@torch.no_grad()
def score_plan(model, dataset: WindowDataset, batch_size: int, workers: int) -> np.ndarray:
    device = next(model.parameters()).device
    batches = window_loader(dataset, RankBatches(len(dataset), batch_size, even=False), workers, device)
    return np.concatenate([model(v.to(device), a.to(device)).cpu().numpy() for v, a, _, _ in batches])


def _split_to_evaluate(model_path: str | Path, manifest: str | Path, shards_dir: str | Path, shards: list[str],
                       audio: str, visual: str, split: str):
    """The model, the settings it was trained with, the two stages' readers and the face segments of the split."""
    model, record = load_checkpoint(model_path, pick_device())
    visual_readers, audio_readers = open_shards(shards_dir, visual, shards), open_shards(shards_dir, audio, shards)
    tracks = open_shards(shards_dir, "tracks", shards)
    clips = clip_table(manifest, [split], visual_readers, audio_readers, tracks, audio)
    if clips.empty:
        raise ValueError(f"no usable clip in the {split} split")
    return model, record.get("settings") or {}, visual_readers, audio_readers, clips


def evaluate_binary(model_path: str | Path, manifest: str | Path, shards_dir: str | Path, shards: list[str],
                    audio: str, visual: str, settings: EvalSettings, split: str = "test", workers: int = 0) -> dict:
    model, trained_with, visual_readers, audio_readers, clips = _split_to_evaluate(
        model_path, manifest, shards_dir, shards, audio, visual, split)
    plan = binary_protocol_plan(clips, settings.pairs, settings.seed, settings.min_shift)
    p = score_plan(model, WindowDataset(clips, plan, visual_readers, audio_readers, audio),
                   settings.batch_size, workers)
    correct = (p >= settings.threshold).astype(int) == plan.label
    return {"protocol": BINARY, "audio": audio, "visual": visual, "split": split, "seed": trained_with.get("seed"),
            "accuracy": float(correct.mean()), "pairs": len(plan),
            "accuracy_synced": float(correct[plan.label == 1].mean()),
            "accuracy_unsynced": float(correct[plan.label == 0].mean()),
            "mean_p_synced": float(p[plan.label == 1].mean()), "mean_p_unsynced": float(p[plan.label == 0].mean()),
            "clips": int(clips["clip_id"].nunique()), "segments": len(clips),
            "speakers": int(clips["speaker"].nunique()), "settings": to_dict(settings)}


def _per_clip_mean(segments: list[dict], key: str) -> list[float]:
    """A value per clip: the mean over its segments weighted by their windows."""
    by_clip: dict[str, list[float]] = {}
    for seg in segments:
        total = by_clip.setdefault(seg["clip_id"], [0.0, 0.0])
        total[0] += seg[key] * seg["windows"]
        total[1] += seg["windows"]
    return [v / w for v, w in by_clip.values()]


def evaluate_offset(model_path: str | Path, manifest: str | Path, shards_dir: str | Path, shards: list[str],
                    audio: str, visual: str, settings: EvalSettings, split: str = "test",
                    vshift: int = VSHIFT, contexts: tuple[int, ...] = CONTEXTS, tolerance: int = TOLERANCE) -> dict:
    """The offset protocol and LSE-D / LSE-C over every face segment of the split's clips (see
    model/lse.py): embeddings once per segment, then the shift scores of all its windows.

    Per clip: the offset accuracy counts all windows of all its segments; LSE-D / LSE-C / the AV
    offset are syncnet_python's per face track (= per segment), a clip's value the mean over its
    segments weighted by windows. Data set: the mean over clips (syncnet_python's scripts average
    over videos, VocaLiST over samples)."""
    model, trained_with, visual_readers, audio_readers, clips = _split_to_evaluate(
        model_path, manifest, shards_dir, shards, audio, visual, split)
    counts: dict[int, list] = {k: [] for k in contexts}
    segments = []
    for row in progress(list(clips.itertuples(index=False)), desc=f"offset {audio} × {visual}", unit="segment"):
        v, a = segment_embeddings(model, visual_readers[row.shard], audio_readers[row.shard], row.clip_id,
                                  int(row.first_frame), int(row.windows), audio, settings.batch_size)
        scores = shift_scores(v, a, vshift)
        lse = syncnet_lse(v, a, vshift, normalise=True)
        segment = {"clip_id": row.clip_id, "first_frame": int(row.first_frame), "windows": int(row.windows),
                   "lse_d": lse.min_dist, "lse_c": lse.confidence, "av_offset": lse.offset}
        for k in contexts:
            c = offset_counts(scores, k, vshift, tolerance)
            counts[k].append((row.clip_id, c))
            segment[f"correct_k{k}"] = c.correct
        segments.append(segment)
    for seg in segments:
        seg["av_offset_ok"] = float(abs(seg["av_offset"]) <= tolerance)
    by_context = {k: offset_accuracy(counts[k]) for k in contexts}
    return {"protocol": OFFSET, "audio": audio, "visual": visual, "split": split, "seed": trained_with.get("seed"),
            "vshift": vshift, "tolerance": tolerance, "contexts": list(contexts),
            **{f"accuracy_k{k}": by_context[k]["accuracy"] for k in contexts},
            "by_context": {str(k): v for k, v in by_context.items()},
            "lse_d": float(np.mean(_per_clip_mean(segments, "lse_d"))),
            "lse_c": float(np.mean(_per_clip_mean(segments, "lse_c"))),
            # the whole-segment AV offset (syncnet_python's) within ±tolerance: a clip-level offset accuracy
            "lse_av_offset_ok": float(np.mean(_per_clip_mean(segments, "av_offset_ok"))),
            "lse_distance": LSE_DISTANCE,
            "clips": int(clips["clip_id"].nunique()), "segments": len(clips), "windows": int(clips["windows"].sum()),
            "speakers": int(clips["speaker"].nunique()), "settings": to_dict(settings), "per_segment": segments}


def write_json(record: dict, path: str | Path) -> None:
    write_atomic(path, json.dumps(record, indent=2) + "\n")
