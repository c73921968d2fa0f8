"""Scoring a corpus shard from what the extraction stages already wrote (the workflow's `score` rule):
the clips of one manifest shard, read from the tracks / audio / landmarks (or the model's
representations) shards, then scored by `results.score_clip` exactly as a video read from its file
(videos.py), so both routes give the same numbers without decoding the corpus twice.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path


from unisync_model.io.progress import progress
from unisync_model.scoring.results import VideoScore, failed, score_clip, score_or_reason, silence_reason
from unisync_model.scoring.scorers import ClipData, Scorer
from unisync_model.settings import ScoreSettings


def shard_clips(manifest: str | Path, shard: str, shards_dir: str | Path, scorer: Scorer,
                settings: ScoreSettings, splits: tuple[str, ...] | None = None
                ) -> Iterator[tuple[str, str, ClipData | str]]:
    """(clip id, video path, ClipData or the reason it has none) for every clip of a manifest shard
    (of `splits` only, when given), read from the shards of the stages the scorer needs (the first
    reason met wins: the manifest's status, then each stage's skip record, then silence)."""
    from unisync_model.corpora.manifest import STATUS_OK, read_manifest
    from unisync_model.io.pcm import pcm16_to_float
    from unisync_model.io.shards import ShardReader

    clips = read_manifest(manifest, shard)
    if splits is not None:
        clips = clips[clips["split"].isin(splits)]
    stages = list(dict.fromkeys(("audio", "tracks", *scorer.needs)))
    readers = {stage: ShardReader(Path(shards_dir) / stage / f"{shard}.h5") for stage in stages}
    skipped = {stage: {r["clip_id"]: r["reason"] for r in reader.skipped} for stage, reader in readers.items()}
    for row in clips.itertuples(index=False):
        clip_id, path = row.clip_id, str(row.path)
        if row.status != STATUS_OK:
            yield clip_id, path, str(row.status).removeprefix("skipped: ")
            continue
        reason = next((skipped[s][clip_id] for s in stages if clip_id in skipped[s]), None)
        reason = reason or next((f"missing from the {s} shard" for s in stages if clip_id not in readers[s]), None)
        if reason:
            yield clip_id, path, reason
            continue
        samples = pcm16_to_float(readers["audio"].read(clip_id))
        reason = silence_reason(samples, settings.silence_dbfs)
        if reason:
            yield clip_id, path, reason
            continue
        clip = ClipData(clip_id=clip_id, path=path, track=readers["tracks"].read(clip_id), samples=samples,
                        arrays={s: readers[s].read(clip_id) for s in stages if s not in ("audio", "tracks")},
                        audio_stream=readers["audio"].info(clip_id).get("stream"))
        yield clip_id, path, clip


def score_shard(manifest: str | Path, shard: str, shards_dir: str | Path, scorer: Scorer,
                settings: ScoreSettings | None = None, splits: tuple[str, ...] | None = None) -> list[VideoScore]:
    """Every clip of one manifest shard (of `splits` only, when given), from the extraction stages' shards."""
    settings = settings or ScoreSettings()
    results = []
    clips = list(shard_clips(manifest, shard, shards_dir, scorer, settings, splits))
    for clip_id, path, clip in progress(clips, desc=f"score ({scorer.name}) {shard}", unit="video"):
        if isinstance(clip, str):
            results.append(failed(path, clip_id, scorer.name, clip))
            continue
        results.append(score_or_reason(partial(_score_prepared, clip, scorer, path, settings),
                                       path, clip_id, scorer.name, clip.frames, label=clip_id))
    return results


def _score_prepared(clip: ClipData, scorer: Scorer, path: str, settings: ScoreSettings) -> VideoScore:
    scorer.prepare(clip)  # only what the shards lack
    return score_clip(clip, scorer, path, settings)
