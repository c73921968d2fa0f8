"""`unisync` commands of reporting: training curves, job benchmarks, the clip and score reports, visualize."""
from __future__ import annotations

from pathlib import Path

import click

from unisync_model.cli import _shards, main, manifest_option


@main.command("job-benchmarks")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), required=True)
@click.option("--png", "png_path", type=click.Path(path_type=Path), required=True)
def job_benchmarks(directory: Path, csv_path: Path, png_path: Path) -> None:
    """Gather the benchmark files snakemake wrote for every job under DIRECTORY: a table and a chart."""
    from unisync_model.reporting import job_benchmarks as jb
    jobs = jb.gather(directory)
    if jobs.empty:
        raise click.ClickException(f"no benchmark files under {directory}")
    jb.write(jobs, csv_path, png_path)


@main.command()
@manifest_option
@click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shards", "shard_list", required=True, help="Comma-separated shard names.")
@click.option("--stages", default="audio,tracks,rgb,mel", show_default=True, help="Stages, in pipeline order.")
@click.option("--out-dir", type=click.Path(path_type=Path), required=True)
@click.option("--overview-clips", type=int, default=64, show_default=True, help="Clips in contact_sheet.png.")
@click.option("--resync", "resync_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The resync stage's decisions.csv: what resync did to each clip goes into clips.csv.")
def report(manifest_path, shards_dir, shard_list, stages, out_dir, overview_clips, resync_path) -> None:
    """What happened to every clip (clips.csv, counts.csv, summary.md), and mouth-crop contact sheets."""
    from unisync_model.reporting.clip_report import write_report
    from unisync_model.training.resync_table import read_decisions
    write_report(manifest_path, shards_dir, _shards(stages), _shards(shard_list), out_dir,
                 overview_clips=overview_clips, resync=read_decisions(resync_path) if resync_path else None)


@main.command()
@click.argument("clip_id")
@click.option("--results", "results_dir", type=click.Path(exists=True, path_type=Path), required=True,
              help="A corpus's results folder, e.g. results/demo (holds clips.parquet and shards/).")
@click.option("--out-dir", type=click.Path(path_type=Path), default=None,
              help="Where the PNG and MP4 go (default: <results>/visualize).")
@click.option("--rows", type=int, default=6, show_default=True, help="Frames in the PNG.")
def visualize(clip_id: str, results_dir: Path, out_dir: Path | None, rows: int) -> None:
    """Draw a clip's frames with its landmarks, parsing colours, 3DMM pose and mouth crop, to PNG and MP4."""
    from unisync_model.reporting.visualize import visualize as draw
    draw(results_dir, clip_id, out_dir or results_dir / "visualize", rows)


@main.command("score-report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--figures", type=click.IntRange(min=0), default=None,
              help="Videos that get figures and a face thumbnail, in the table's order (default 200; each adds "
                   "about 50-100 kB to the page).")
def score_report(directory: Path, figures: int | None) -> None:
    """Write DIRECTORY/report.html from a `unisync score` or `score-merge` output folder (scores.json and
    plots/): one self-contained page with the sortable table of videos, an offset histogram, the reasons
    for videos without a score, and per video its curves and a thumbnail of the chosen face."""
    from unisync_model.reporting.score_report import write_score_report
    if not (directory / "scores.json").is_file():
        raise click.ClickException(f"{directory} holds no scores.json: not a `unisync score` output folder")
    click.echo(write_score_report(directory, figures))
