"""The `unisync` command: one subcommand per pipeline step, each a thin call into the library.

Stage settings arrive as a JSON object (`--settings`: the object itself or a file holding it), the way
the workflow passes a config.yaml section; keys left out take the defaults in unisync_model/settings.py.
`-v` (debug) and `-q` (warnings and errors only, no progress bars) work before or after the subcommand.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from unisync_model import settings as S
from unisync_model.io.optional import DISTRIBUTION


def _shards(value: str) -> list[str]:
    return [s for s in value.split(",") if s]


def _package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """-v / -q, wherever they are given: the last one given wins (the subcommand's come after the group's)."""
    if value:
        logging.getLogger().setLevel(logging.DEBUG if param.name == "verbose" else logging.WARNING)


def _verbosity_options() -> list[click.Option]:
    return [click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, callback=_set_verbosity,
                         help="Debug logging."),
            click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_verbosity,
                         help="Only warnings and errors on stderr, no progress bars (results still go to stdout).")]


class Command(click.Command):
    """A subcommand that also takes -v / -q after its name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.extend(_verbosity_options())


class Group(click.Group):
    command_class = Command


def _settings_text(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--settings: a JSON object, or the path of a file that holds one; returned as JSON text."""
    if not value:
        return ""
    source, text = "", value
    if Path(value).expanduser().is_file():
        source, text = f" in {value}", Path(value).expanduser().read_text(encoding="utf-8")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        if not source and not value.lstrip().startswith(("{", "[")):
            raise click.BadParameter(f"neither a JSON object nor a readable file: {value!r}") from None
        raise click.BadParameter(f"not valid JSON{source}: {err}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"must be a JSON object ({{...}}){source}, not {type(parsed).__name__}")
    return text


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_package_version(), "-V", "--version", prog_name="unisync",
                      message=f"%(prog)s %(version)s ({DISTRIBUTION}, Python {sys.version.split()[0]})")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr, no progress bars.")
def main(verbose: bool, quiet: bool) -> None:
    """UniSync: audio-visual synchronisation experts for any audio and visual representation."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when logging was configured before (basicConfig does nothing then)


@main.command("demo-corpus")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--speakers", type=int, required=True)
@click.option("--clips-per-speaker", type=int, required=True)
@click.option("--split", "splits", required=True, help="Speakers per split, e.g. train=6,val=1,test=1.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=int, default=160, show_default=True, help="Frame side in pixels.")
def demo_corpus(root: Path, speakers: int, clips_per_speaker: int, splits: str, seed: int, size: int) -> None:
    """Generate the demo corpus (synthetic speech, animated face), laid out like LRS2."""
    from unisync_model.corpora.demo import make_demo_corpus
    split_speakers = {k: int(v) for k, v in (item.split("=") for item in splits.split(","))}
    make_demo_corpus(root, speakers=speakers, clips_per_speaker=clips_per_speaker,
                     split_speakers=split_speakers, seed=seed, size=size)


@main.command()
@click.option("--recipe", required=True, help="Corpus recipe: lrs2, cncvs or folder.")
@click.option("--root", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shards", type=int, required=True, help="Number of shards.")
@click.option("--options", "options_json", default="{}", show_default=True,
              help="The recipe's options as JSON, e.g. '{\"speaker_pattern\": \"...\"}'.")
@click.option("--threads", type=int, default=4, show_default=True, help="Files probed at once.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="clips.parquet to write.")
def manifest(recipe: str, root: Path, shards: int, options_json: str, threads: int, out: Path) -> None:
    """List a corpus's clips with speaker, split, shard, media facts and status."""
    from unisync_model.corpora.manifest import build_manifest, summary, write_manifest
    clips = build_manifest(recipe, root, shards, json.loads(options_json), threads)
    write_manifest(clips, out)
    logging.getLogger("unisync").info("manifest: %s", summary(clips))


def _shard_clips(manifest_path: Path, shard: str):
    from unisync_model.corpora.manifest import STATUS_OK, read_manifest
    clips = read_manifest(manifest_path, shard)
    return clips[clips["status"] == STATUS_OK]


manifest_option = click.option("--manifest", "manifest_path", type=click.Path(exists=True, path_type=Path),
                               required=True)
shard_option = click.option("--shard", required=True, help="Shard name, e.g. 000.")
out_option = click.option("--out", type=click.Path(path_type=Path), required=True)
settings_option = click.option("--settings", "settings_json", default="", callback=_settings_text,
                               help="Stage settings: a JSON object, or a JSON file's path.")
tracks_option = click.option("--tracks", "tracks_path", type=click.Path(exists=True, path_type=Path), required=True)


@main.command()
@manifest_option
@shard_option
@out_option
@settings_option
def audio(manifest_path: Path, shard: str, out: Path, settings_json: str) -> None:
    """Decode every clip's audio to 16 kHz mono (the default stream, or the first that is not silent)."""
    from unisync_model.extract.audio import extract_audio
    extract_audio(_shard_clips(manifest_path, shard), out, S.parse_json(S.AudioSettings, settings_json))


@main.command()
@manifest_option
@shard_option
@out_option
@settings_option
def tracks(manifest_path: Path, shard: str, out: Path, settings_json: str) -> None:
    """Detect, follow and smooth the speaking face at 25 fps."""
    from unisync_model.extract.tracks import extract_tracks
    extract_tracks(_shard_clips(manifest_path, shard), out, S.parse_json(S.TracksSettings, settings_json))


@main.command()
@manifest_option
@shard_option
@tracks_option
@out_option
@settings_option
def rgb(manifest_path: Path, shard: str, tracks_path: Path, out: Path, settings_json: str) -> None:
    """Crop the lower half of the face in every frame."""
    from unisync_model.extract.rgb import extract_rgb
    extract_rgb(_shard_clips(manifest_path, shard), tracks_path, out, S.parse_json(S.RgbSettings, settings_json))


@main.command()
@click.option("--audio", "audio_path", type=click.Path(exists=True, path_type=Path), required=True)
@out_option
@settings_option
def mel(audio_path: Path, out: Path, settings_json: str) -> None:
    """Log-Mel spectrogram at 80 Hz from an audio shard."""
    from unisync_model.extract.mel import extract_mel
    extract_mel(audio_path, out, S.parse_json(S.MelSettings, settings_json))


@main.command()
@manifest_option
@shard_option
@tracks_option
@out_option
@settings_option
def landmarks(manifest_path: Path, shard: str, tracks_path: Path, out: Path, settings_json: str) -> None:
    """68 facial landmarks per frame (dlib or face-alignment's FAN), in frame pixels."""
    from unisync_model.extract.landmarks import extract_landmarks
    extract_landmarks(_shard_clips(manifest_path, shard), tracks_path, out,
                      S.parse_json(S.LandmarksSettings, settings_json))


@main.command()
@manifest_option
@shard_option
@tracks_option
@click.option("--landmarks", "landmarks_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="The landmarks shard (needed by the landmarks backend).")
@out_option
@settings_option
def parsing(manifest_path: Path, shard: str, tracks_path: Path, landmarks_path: Path | None, out: Path,
            settings_json: str) -> None:
    """A face-parsing class map per frame, over the lower half of the face crop."""
    from unisync_model.extract.parsing import extract_parsing
    extract_parsing(_shard_clips(manifest_path, shard), tracks_path, landmarks_path, out,
                    S.parse_json(S.ParsingSettings, settings_json))


@main.command()
@manifest_option
@shard_option
@tracks_option
@out_option
@settings_option
def tdmm(manifest_path: Path, shard: str, tracks_path: Path, out: Path, settings_json: str) -> None:
    """3DMM parameters per frame (3DDFA_V2: 12 pose, 40 shape, 10 expression)."""
    from unisync_model.extract.tdmm import extract_tdmm
    extract_tdmm(_shard_clips(manifest_path, shard), tracks_path, out, S.parse_json(S.TdmmSettings, settings_json))


@main.command()
@click.option("--audio", "audio_path", type=click.Path(exists=True, path_type=Path), required=True)
@out_option
@settings_option
def hubert(audio_path: Path, out: Path, settings_json: str) -> None:
    """HuBERT features at 50 Hz (float16) from an audio shard."""
    from unisync_model.extract.hubert import extract_hubert
    extract_hubert(audio_path, out, S.parse_json(S.HubertSettings, settings_json))


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
def train(manifest_path, shards_dir, shard_list, audio_rep, visual_rep, out_dir, settings_json, threads,
          seed) -> None:
    """Train one audio × visual combination (resumes from out-dir/checkpoints/last.pt)."""
    from unisync_model.training.trainer import train as train_model
    settings = S.parse_json(S.TrainSettings, settings_json)
    if seed is not None:
        settings = dataclasses.replace(settings, seed=seed)
    train_model(manifest_path, shards_dir, _shards(shard_list), audio_rep, visual_rep, out_dir, settings, threads)


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
def report(manifest_path, shards_dir, shard_list, stages, out_dir, overview_clips) -> None:
    """What happened to every clip (clips.csv, counts.csv, summary.md), and mouth-crop contact sheets."""
    from unisync_model.reporting.clip_report import write_report
    write_report(manifest_path, shards_dir, _shards(stages), _shards(shard_list), out_dir,
                 overview_clips=overview_clips)


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


@main.command(epilog="Columns named after syncnet_python's are on the scorer's own scale (scores.json's `columns` "
                     "says which): min_dist (LSE-D) and confidence (LSE-C) lie in 0-2 for training-free and unisync "
                     "(distances sqrt(2 - 2 r), sqrt(2 - 2 p_sync)); syncnet gives SyncNet's own (LSE-D about 5-10, "
                     "LSE-C 0-12). Exit status: 0 when every path given exists and at least one video was scored, "
                     "1 otherwise (a missing path, nothing scored), 2 for a usage error.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out-dir", type=click.Path(path_type=Path), required=True,
              help="Where videos.csv, segments.csv, scores.json and plots/ go.")
@click.option("--scorer", "scorer_name", type=click.Choice(["training-free", "unisync", "syncnet"]),
              default="training-free", show_default=True,
              help="training-free: mouth opening × speech envelope, no model; unisync: a UniSync checkpoint; "
                   "syncnet: syncnet_python's SyncNet.")
@click.option("--model", "model_path", default=None,
              help="unisync: the checkpoint (model.pt); syncnet: the weights (default syncnet_v2.model, resolved).")
@settings_option
@click.option("--audio-stream", type=click.IntRange(min=0), default=None,
              help="Score audio stream N (0: the file's first audio stream; ffmpeg's 0:a:N). Default: the default "
                   "stream, or when it is silent or absent the first other that is not silent.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="A PNG per scored video.")
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Score a shard of a corpus from its extraction shards instead of PATHS (with --shard, --shards-dir).")
@click.option("--shard", default=None)
@click.option("--shards-dir", type=click.Path(exists=True, path_type=Path), default=None)
def score(paths, out_dir, scorer_name, model_path, settings_json, audio_stream, plots, manifest_path, shard,
          shards_dir) -> None:
    """Audio-visual offset, confidence and minimum distance of videos (files, folders, or .txt lists of
    videos), per face segment and per video. Offset > 0: the audio leads the video (syncnet_python's
    sign); `unisync fix --offset N` undoes it. A video without a score gets a reason instead.

    Prints one tab-separated line per video to stdout as it is scored (path, AV offset, min dist,
    confidence, scorer; or `no score: <reason>`), then a summary line; logs and progress go to stderr."""
    from unisync_model.io.progress import write_line
    from unisync_model.scoring.score import (score_shard, score_videos, scorer_from_settings, settings_from_json,
                                             summary_line, write_outputs)
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
    try:
        scorer = scorer_from_settings(scorer_name, model_path, settings)
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from None
    logging.getLogger("unisync").info("scorer: %s", scorer.description)
    if manifest_path:
        results = score_shard(manifest_path, shard, shards_dir, scorer, settings)
        for result in results:
            write_line(result.line())
    else:
        results = score_videos(paths, scorer, settings, on_result=lambda result: write_line(result.line()))
    counts = write_outputs(results, out_dir, scorer, plots)
    click.echo(summary_line(counts, out_dir))
    if counts["missing"]:
        raise click.ClickException(f"{len(counts['missing'])} path(s) given do not exist: "
                                   + ", ".join(counts["missing"][:10]) + (" …" if len(counts["missing"]) > 10 else ""))
    if counts["scored"] == 0:
        raise click.ClickException("no video found" if not results else "no video could be scored")


@main.command("score-merge")
@click.argument("dirs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--out-dir", type=click.Path(path_type=Path), required=True)
def score_merge(dirs, out_dir: Path) -> None:
    """Join the outputs of several `unisync score` runs (the workflow's shards) into one folder."""
    from unisync_model.scoring.score import merge_outputs
    n = merge_outputs(dirs, out_dir)
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
def fix(video: Path, out: Path, offset, scorer_name, model_path, settings_json, reencode_audio) -> None:
    """Copy VIDEO to OUT with the audio shifted to undo its offset; the video stream is not re-encoded."""
    from unisync_model.scoring.fix import FixError, fix_video
    from unisync_model.scoring.score import scorer_from_settings, settings_from_json
    settings = settings_from_json(settings_json)
    try:
        scorer = None if offset is not None else scorer_from_settings(scorer_name, model_path, settings)
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from None
    try:
        record = fix_video(video, out, offset, scorer, settings, reencode_audio)
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
                                 "e.g. ../shared/data/clips/manifest.csv.")
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
    from unisync_model.scoring.score import scorer_from_settings, settings_from_json
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


if __name__ == "__main__":
    main()
