"""`unisync` commands of training and evaluation: train, evaluate, and the paper's tables."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import click

from unisync_model import settings as S
from unisync_model.cli import _shards, main, manifest_option, out_option, settings_option


combination_options = [
    manifest_option,
    click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), required=True),
    click.option("--shards", "shard_list", required=True, help="Comma-separated shard names."),
    click.option("--audio", "audio_rep", required=True, help="Audio representation, e.g. mel."),
    click.option("--visual", "visual_rep", required=True, help="Visual representation, e.g. rgb."),
]


def _combination(f):
    for option in reversed(combination_options):
        f = option(f)
    return f


@main.command()
@_combination
@click.option("--out-dir", type=click.Path(path_type=Path), required=True)
@settings_option
@click.option("--threads", type=int, default=0, help="Torch threads in the main process (0: torch's default).")
@click.option("--seed", type=int, default=None, help="Overrides the settings' seed.")
@click.option("--resync", "resync_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The resync stage's decisions.csv (`unisync resync`): its dropped segments are left out, its "
                   "shifted ones read their audio shifted.")
def train(manifest_path, shards_dir, shard_list, audio_rep, visual_rep, out_dir, settings_json, threads,
          seed, resync_path) -> None:
    """Train one audio × visual combination (resumes from out-dir/checkpoints/last.pt)."""
    from unisync_model.training.trainer import train as train_model
    settings = S.parse_json(S.TrainSettings, settings_json)
    if seed is not None:
        settings = dataclasses.replace(settings, seed=seed)
    train_model(manifest_path, shards_dir, _shards(shard_list), audio_rep, visual_rep, out_dir, settings, threads,
                resync_path)


@main.command()
@_combination
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), required=True)
@out_option
@click.option("--offset-out", type=click.Path(path_type=Path), default=None,
              help="Also run the offset protocol (K = 5 and 15) and LSE-D / LSE-C, to this JSON.")
@settings_option
@click.option("--split", default="test", show_default=True)
def evaluate(manifest_path, shards_dir, shard_list, audio_rep, visual_rep, model_path, out, offset_out,
             settings_json, split) -> None:
    """Binary-protocol accuracy of a model on a split (and optionally the offset protocol), to JSON."""
    from unisync_model.evaluation.protocols import evaluate_binary, evaluate_offset, write_json
    settings = S.parse_json(S.EvalSettings, settings_json)
    log = logging.getLogger("unisync")
    record = evaluate_binary(model_path, manifest_path, shards_dir, _shards(shard_list), audio_rep, visual_rep,
                             settings, split)
    write_json(record, out)
    log.info("%s × %s: %s accuracy %.2f%% on %d pairs", audio_rep, visual_rep, record["protocol"],
             100 * record["accuracy"], record["pairs"])
    if offset_out:
        offset = evaluate_offset(model_path, manifest_path, shards_dir, _shards(shard_list), audio_rep, visual_rep,
                                 settings, split)
        write_json(offset, offset_out)
        log.info("%s × %s: offset protocol written to %s", audio_rep, visual_rep, offset_out)


@main.command()
@click.argument("metrics", nargs=-1, type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--corpus", required=True)
@click.option("--md", type=click.Path(path_type=Path), required=True)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), required=True)
@click.option("--png", "png_path", type=click.Path(path_type=Path), default=None, help="A bar chart of the table.")
def table(metrics, corpus: str, md: Path, csv_path: Path, png_path: Path | None) -> None:
    """Gather evaluation JSONs (combinations × seeds) into the results table: markdown, CSV, chart."""
    from unisync_model.evaluation.results_table import results_table, write_table
    write_table(results_table(list(metrics)), corpus, md, csv_path, png_path)


@main.command("training-curves")
@click.argument("logs", nargs=-1, type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--title", required=True)
@click.option("--png", "png_path", type=click.Path(path_type=Path), required=True)
def training_curves(logs, title: str, png_path: Path) -> None:
    """Loss and accuracy per epoch from training.csv logs (one line per seed), to a PNG."""
    from unisync_model.reporting.training_curves import plot_curves
    plot_curves(list(logs), title, png_path)


@main.command("ablation-table")
@click.option("--spec", "spec_json", required=True,
              help="JSON: {rows: [...], metrics: {'<audio>/<variant>': [metrics files]}} (the workflow writes it).")
@click.option("--corpus", required=True)
@click.option("--visual", required=True, help="The visual representation the ablations train with.")
@click.option("--md", type=click.Path(path_type=Path), required=True)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), required=True)
def ablation_table_command(spec_json: str, corpus: str, visual: str, md: Path, csv_path: Path) -> None:
    """Paper Table V: accuracy per cross-speaker share and per margins, for each audio representation."""
    from unisync_model.evaluation.ablation_table import ablation_table, write_ablation_table
    spec = json.loads(spec_json)
    write_ablation_table(ablation_table(spec["rows"], spec["metrics"]), corpus, visual, md, csv_path)


