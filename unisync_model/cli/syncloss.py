"""`unisync` commands of the SyncLoss study (paper Table VI in miniature, docs/syncloss.md): train a
talking-mouth generator with or without a frozen UniSync as its sync loss, then draw, judge and score
the test clips of both arms."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from unisync_model import settings as S
from unisync_model.cli import _shards, main, manifest_option, settings_option

ARMS = {"l1": "L1 only", "syncloss": "L1 + SyncLoss"}


def _generators(ctx, param, values: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for value in values:
        arm, sep, path = value.partition("=")
        if not sep or not arm or not path:
            raise click.BadParameter(f"expected ARM=CHECKPOINT, got {value!r}")
        out[arm] = Path(path)
    return out


@main.command("syncloss-train")
@manifest_option
@click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shards", "shard_list", required=True, help="Comma-separated shard names.")
@click.option("--expert", "expert_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The frozen Mel × RGB UniSync of the sync loss (model.pt).")
@click.option("--arm", type=click.Choice(sorted(ARMS)), required=True,
              help="l1: L1 to the real crops only; syncloss: (1 − w) · L1 + w · SyncLoss, w the settings' weight.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The generator's checkpoint; training.csv goes beside it.")
@settings_option
@click.option("--threads", type=int, default=1, show_default=True, help="Torch threads (0: torch's default).")
def syncloss_train(manifest_path, shards_dir, shard_list, expert_path, arm, out, settings_json, threads) -> None:
    """Train the talking-mouth generator of one arm on the training split (same seed, steps and batches
    in both arms)."""
    from unisync_model.training.mouth_generator import train_generator
    settings = S.parse_json(S.SyncLossSettings, settings_json)
    weight = settings.weight if arm == "syncloss" else 0.0
    record = train_generator(manifest_path, shards_dir, _shards(shard_list), expert_path, out, settings, weight,
                             threads)
    last = record["log"][-1]
    logging.getLogger("unisync").info("%s: %d steps, L1 %.4f, p_sync %.3f, %.0f CPU s -> %s", ARMS[arm],
                                      settings.steps, last["l1"], last["p_sync"], record["cpu_seconds"], out)


@main.command("syncloss-study")
@manifest_option
@click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shards", "shard_list", required=True, help="Comma-separated shard names.")
@click.option("--generator", "generators", multiple=True, required=True, callback=_generators,
              help="ARM=CHECKPOINT, once per arm (e.g. l1=… syncloss=…).")
@click.option("--judge", "judge_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The UniSync checkpoint that judges the drawn clips (best another seed than the loss's expert).")
@click.option("--out-dir", type=click.Path(path_type=Path), required=True,
              help="table.md, table.csv, clips.csv, videos/<arm>/, training_free/.")
@click.option("--split", default="test", show_default=True)
@click.option("--training-free/--no-training-free", default=True, show_default=True,
              help="Also write the videos and score them (and the real clips) with the training-free scorer.")
@settings_option
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Videos the training-free scorer scores at once.")
@click.option("--title", default="SyncLoss study", show_default=True)
def syncloss_study(manifest_path, shards_dir, shard_list, generators, judge_path, out_dir, split, training_free,
                   settings_json, jobs, title) -> None:
    """Draw the split's clips with each generator, judge them with a UniSync expert and (by default) score
    videos of them with the training-free scorer; one row per arm, plus the real clips. --settings: the
    training-free scorer's (`unisync score --settings`)."""
    import pandas as pd

    from unisync_model.evaluation.syncloss_study import run_study, summarise, write_table
    from unisync_model.scoring.outputs import write_outputs
    from unisync_model.scoring.scorers import scorer_from_settings, settings_from_json
    from unisync_model.scoring.videos import score_videos
    score_settings = settings_from_json(settings_json)  # a bad setting stops here, before any drawing
    scorer = scorer_from_settings("training-free", None, score_settings) if training_free else None
    clip_rows = run_study(generators, judge_path, manifest_path, shards_dir, _shards(shard_list), out_dir, split,
                          videos=training_free)
    scored = None
    if scorer is not None:
        results = score_videos(list(dict.fromkeys(clip_rows["video"])), scorer, score_settings, jobs=jobs)
        write_outputs(results, out_dir / "training_free", scorer, plots=False)
        scored = pd.DataFrame([r.row() for r in results])
    table = summarise(clip_rows, scored)
    write_table(table, clip_rows, out_dir, title,
                notes={"judge": str(judge_path), **{f"generator {a}": str(p) for a, p in generators.items()}})
    click.echo(table.to_string(index=False))
