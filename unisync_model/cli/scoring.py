"""`unisync` commands of scoring any video: score, score-merge, fix and the shift study."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import click

from unisync_model.cli import main, settings_option


@main.command(epilog="Columns named after syncnet_python's are on the scorer's own scale (scores.json's `columns` "
                     "says which): min_dist (LSE-D) and confidence (LSE-C) lie in 0-2 for training-free and unisync "
                     "(distances sqrt(2 - 2 r), sqrt(2 - 2 p_sync)); syncnet gives SyncNet's own (LSE-D about 5-10, "
                     "LSE-C 0-12). Exit status: 0 when every path given exists and at least one video was scored, "
                     "1 otherwise (a missing path, nothing scored), 2 for a usage error; with --manifest, a shard "
                     "without a scored video is not an error (its rows say why).")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out-dir", type=click.Path(path_type=Path), required=True,
              help="Where videos.csv, segments.csv, scores.json and plots/ go.")
@click.option("--scorer", "scorer_name", type=click.Choice(["training-free", "unisync", "syncnet"]),
              default="training-free", show_default=True,
              help="training-free: mouth opening × speech envelope, no model; unisync: a UniSync checkpoint; "
                   "syncnet: syncnet_python's SyncNet.")
@click.option("--model", "model_path", default=None,
              help="unisync: the checkpoint (model.pt); syncnet: the weights (default syncnet_v2.model, resolved).")
@click.option("--protocol", type=click.Choice(["default", "syncnet_python"]), default="default", show_default=True,
              help="syncnet only. default: our YuNet face tracks, every face segment cropped and pooled; "
                   "syncnet_python: syncnet_python's own (the LSE-D / LSE-C of papers): demo_syncnet.py's whole "
                   "frame for a 224 x 224, 25 fps face crop, else run_pipeline.py's face tracks, each on its own.")
@click.option("--jpeg/--no-jpeg", default=None,
              help="--protocol syncnet_python: read the frames through ffmpeg's JPEGs as syncnet_python does "
                   "(default, its exact numbers) or straight from the decoder.")
@settings_option
@click.option("--audio-stream", type=click.IntRange(min=0), default=None,
              help="Score audio stream N (0: the file's first audio stream; ffmpeg's 0:a:N). Default: the default "
                   "stream, or when it is silent or absent the first other that is not silent.")
@click.option("--max-offset", "max_offset", default=None,
              help="Offsets searched either way: frames (15) or seconds (3s = 75 frames). Default: the settings' "
                   "max_offset, 15 (syncnet_python's). Every output names the range searched.")
@click.option("--plots/--no-plots", default=False, show_default=True,
              help="A PNG per scored video (the distance curve over offsets and the per-frame confidence).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Videos scored at once, each in its own process on one thread (default: the CPU cores this "
                   "process may use; 1 when the scorer's model runs on a GPU). The results and their order are "
                   "those of --jobs 1.")
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Score a shard of a corpus from its extraction shards instead of PATHS (with --shard, --shards-dir).")
@click.option("--shard", default=None)
@click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), default=None)
def score(paths, out_dir, scorer_name, model_path, settings_json, audio_stream, max_offset, plots, jobs, manifest_path,
          shard, shards_dir, protocol, jpeg) -> None:
    """Audio-visual offset, confidence and minimum distance of videos (files, folders, or .txt lists of
    videos), per face segment and per video. Offset > 0: the audio leads the video (syncnet_python's
    sign); `unisync fix --offset N` undoes it. A video without a score gets a reason instead.

    Prints one tab-separated line per video to stdout as it is scored (path, AV offset, min dist,
    confidence, scorer; or `no score: <reason>`), then a summary line; logs and progress go to stderr."""
    from unisync_model.io.progress import write_line
    from unisync_model.reporting.score_report import try_score_report
    from unisync_model.scoring.outputs import summary_line, write_outputs
    from unisync_model.scoring.scorers import scorer_from_settings, settings_from_json
    from unisync_model.scoring.shard_route import score_shard
    from unisync_model.scoring.videos import default_jobs, score_videos
    if bool(paths) == bool(manifest_path):
        raise click.UsageError("give either PATHS or --manifest with --shard and --shards-dir")
    if manifest_path and not (shard and shards_dir):
        raise click.UsageError("--manifest needs --shard and --shards-dir")
    settings = settings_from_json(settings_json)
    if audio_stream is not None:
        if manifest_path:
            raise click.UsageError("--audio-stream chooses among a video's streams; the shards hold one already "
                                   "(config.yaml's audio.stream chose it)")
        settings = dataclasses.replace(settings, audio_stream=audio_stream)
    if max_offset is not None:
        try:
            settings = dataclasses.replace(settings, max_offset=max_offset_frames(max_offset))
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--max-offset") from None
    try:
        scorer = scorer_from_settings(scorer_name, model_path, settings, protocol=protocol, jpeg=jpeg)
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from None
    logging.getLogger("unisync").info("scorer: %s", scorer.description)
    if manifest_path:
        _require_shards(scorer, shards_dir, shard, " (in the workflow: config.yaml's score.audio / score.visual "
                                                   "name the model's representations)")
        results = score_shard(manifest_path, shard, shards_dir, scorer, settings)
        for result in results:
            write_line(result.line())
    else:
        results = score_videos(paths, scorer, settings, on_result=lambda result: write_line(result.line()),
                               jobs=jobs or default_jobs(scorer), plot_dir=out_dir if plots else None)
    counts = write_outputs(results, out_dir, scorer, plots)
    try_score_report(out_dir)  # report.html, after the tables: a failure is logged, the tables stay
    click.echo(summary_line(counts, out_dir))
    if counts["missing"]:
        raise click.ClickException(f"{len(counts['missing'])} path(s) given do not exist: "
                                   + ", ".join(counts["missing"][:10]) + (" …" if len(counts["missing"]) > 10 else ""))
    if counts["scored"] == 0 and not manifest_path:  # a workflow shard's rows with their reasons are its result
        raise click.ClickException("no video found" if not results else "no video could be scored")


def max_offset_frames(text: str) -> int:
    """--max-offset: whole frames ("15") or seconds ("3s", "0.6s"), as frames at 25 fps (at least 1)."""
    from unisync_model.settings import FPS
    value = str(text).strip().lower()
    try:
        frames = round(float(value[:-1]) * FPS) if value.endswith("s") else int(value)
    except ValueError:
        raise ValueError(f"{text!r}: give frames (15) or seconds (3s)") from None
    if frames < 1:
        raise ValueError(f"{text!r}: the range must be at least one frame")
    return frames


def _require_shards(scorer, shards_dir: Path, shard: str, hint: str = "") -> None:
    """A usage error naming the shards the scorer reads that do not exist."""
    needed = [shards_dir / stage / f"{shard}.h5" for stage in dict.fromkeys(("audio", "tracks", *scorer.needs))]
    if missing := [str(path) for path in needed if not path.is_file()]:
        raise click.UsageError(f"the {scorer.name} scorer reads shards that do not exist: {', '.join(missing)}{hint}")


@main.command("score-merge")
@click.argument("dirs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--out-dir", type=click.Path(path_type=Path), required=True)
def score_merge(dirs, out_dir: Path) -> None:
    """Join the outputs of several `unisync score` runs (the workflow's shards) into one folder."""
    from unisync_model.reporting.score_report import try_score_report
    from unisync_model.scoring.outputs import merge_outputs
    n = merge_outputs(dirs, out_dir)
    try_score_report(out_dir)
    logging.getLogger("unisync").info("score-merge: %d videos -> %s", n, out_dir)


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--offset", type=float, default=None,
              help="AV offset in 25 fps frames as `unisync score` reports it (> 0: the audio leads; it is delayed "
                   "by that much). Without it, the scorer detects it.")
@click.option("--scorer", "scorer_name", type=click.Choice(["training-free", "unisync", "syncnet"]),
              default="training-free", show_default=True)
@click.option("--model", "model_path", default=None)
@settings_option
@click.option("--reencode-audio", is_flag=True,
              help="Write the shift into the audio samples (AAC) instead of timestamps / an MP4 edit list.")
@click.option("--drift", "measured_drift", is_flag=True,
              help="Also correct the linear drift the scorer measures (the audio is resampled and re-encoded).")
@click.option("--drift-ms-per-min", "drift_rate", type=float, default=None,
              help="Correct this linear drift: the offset grows by R ms per minute of video (R > 0: the audio "
                   "runs fast; it is slowed by 1 / (1 - R/60000)). --offset is then the offset at the start.")
def fix(video: Path, out: Path, offset, scorer_name, model_path, settings_json, reencode_audio, measured_drift,
        drift_rate) -> None:
    """Copy VIDEO to OUT with the audio shifted to undo its offset (and resampled to undo a drift); the
    video stream is not re-encoded."""
    from unisync_model.scoring.fix import FixError, fix_video
    from unisync_model.scoring.scorers import scorer_from_settings, settings_from_json
    if measured_drift and drift_rate is not None:
        raise click.UsageError("give either --drift (the measured rate) or --drift-ms-per-min R, not both")
    settings = settings_from_json(settings_json)
    try:
        scorer = None if offset is not None and not measured_drift else scorer_from_settings(scorer_name, model_path,
                                                                                             settings)
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from None
    try:
        record = fix_video(video, out, offset, scorer, settings, reencode_audio, drift_rate, measured_drift)
    except FixError as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(record))


@main.command("shift-study")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out-dir", type=click.Path(path_type=Path), required=True, help="Where trials.csv and table.md go.")
@click.option("--scorer", "scorer_name", type=click.Choice(["training-free", "unisync", "syncnet"]),
              default="training-free", show_default=True)
@click.option("--model", "model_path", default=None,
              help="unisync: the checkpoint (model.pt); syncnet: the weights (default syncnet_v2.model, resolved).")
@click.option("--shifts", default="-10,-5,5,10", show_default=True,
              help="Frames the audio is delayed by (negative: advanced), comma-separated.")
@click.option("--seconds", type=float, default=0.0, show_default=True,
              help="Study each clip's first seconds only (0: the whole clip).")
@click.option("--clip-notes", "notes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A clip manifest (file, duration_s, notes) whose notes give each clip's category, "
                                 "e.g. the shared test clips' manifest.csv.")
@click.option("--merge", "merge_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Instead of PATHS: the trials.csv of earlier studies (e.g. both folds), written as one table "
                   "(categories taken again from --clip-notes when given).")
@click.option("--title", default="", help="The table's heading.")
@settings_option
def shift_study(paths, out_dir, scorer_name, model_path, shifts, seconds, notes_path, merge_paths, title,
                settings_json) -> None:
    """Shift each video's audio by k frames in memory and check that the reported offset moves by −k
    (within one frame): a row per clip × shift in trials.csv, a table per clip in table.md."""
    from unisync_model.scoring import shift_study as study
    from unisync_model.scoring.scorers import scorer_from_settings, settings_from_json
    if bool(paths) == bool(merge_paths):
        raise click.UsageError("give either PATHS or --merge trials.csv …")
    categories = study.clip_categories(notes_path) if notes_path else None
    if merge_paths:
        frame = study.write_outputs(study.read_trials(merge_paths, categories), out_dir, title)
    else:
        settings = settings_from_json(settings_json)
        try:
            shift_list = study.parse_shifts(shifts)
            scorer = scorer_from_settings(scorer_name, model_path, settings)
        except (ValueError, FileNotFoundError) as err:
            raise click.UsageError(str(err)) from None
        trials = study.study_videos(paths, scorer, settings, shift_list, seconds, categories)
        frame = study.write_outputs(trials, out_dir, title,
                                    f"Scorer: {scorer.description}. Shift: {study.SHIFT_METHOD}"
                                    + (f"; first {seconds:g} s of each clip" if seconds else "") + ".")
    for line in study.summary_lines(frame):
        if line:
            click.echo(line.replace("**", ""))




@main.command()
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shard", required=True)
@click.option("--shards-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The shard's decisions (CSV: a row per face segment).")
@click.option("--scorer", "scorer_name", type=click.Choice(["training-free", "unisync", "syncnet"]),
              default="training-free", show_default=True)
@click.option("--model", "model_path", default=None,
              help="unisync: the checkpoint (model.pt); syncnet: the weights (default syncnet_v2.model, resolved).")
@settings_option
@click.option("--resync-settings", "resync_json", default=None,
              help="JSON of the resync settings (config.yaml's resync section: splits, keep_within, max_offset, "
                   "min_confidence).")
def resync(manifest_path, shard, shards_dir, out, scorer_name, model_path, settings_json, resync_json) -> None:
    """Score every face segment of a shard's training clips from the extraction shards and decide: keep
    it, shift its audio by the offset found (when training reads it; nothing is re-encoded), or drop it."""
    from unisync_model.scoring import resync as rs
    from unisync_model.scoring.scorers import scorer_from_settings, settings_from_json
    from unisync_model.settings import ResyncSettings, parse_json
    settings, resync_settings = settings_from_json(settings_json), parse_json(ResyncSettings, resync_json)
    try:
        scorer = scorer_from_settings(scorer_name, model_path, settings)
        rs.min_confidence(resync_settings, scorer.name, getattr(scorer, "uncertain_below", None))
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from None
    _require_shards(scorer, shards_dir, shard)
    table = rs.resync_shard(manifest_path, shard, shards_dir, scorer, settings, resync_settings)
    rs.write_decisions(table, out)
    click.echo(json.dumps(rs.summary(table)))


@main.command("resync-merge")
@click.argument("tables", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="decisions.csv")
@click.option("--histogram", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A PNG of the offsets found, by decision.")
def resync_merge(tables, out: Path, histogram: Path | None) -> None:
    """Join the shards' resync decisions into the one table training reads."""
    from unisync_model.scoring import resync as rs
    table = rs.merge_decisions(tables, out, histogram)
    click.echo(json.dumps(rs.summary(table)))
