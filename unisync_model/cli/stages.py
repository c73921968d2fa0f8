"""`unisync` commands of the corpus and the extraction stages: the demo corpus, the manifest, audio,
tracks, and one command per representation of the registry."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from unisync_model import representations
from unisync_model import settings as S
from unisync_model.cli import (Command, _settings_text, _shard_clips, main, manifest_option, out_option,
                               settings_option, shard_option)
from unisync_model.representations import AUDIO


@main.command("demo-corpus")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--speakers", type=int, required=True)
@click.option("--clips-per-speaker", type=int, required=True)
@click.option("--split", "splits", required=True, help="Speakers per split, e.g. train=6,val=1,test=1.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=int, default=160, show_default=True, help="Frame side in pixels.")
@click.option("--shift-share", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Shift the audio of this share of the training clips (ffmpeg; truth in audio_shifts.csv).")
@click.option("--shift-frames", default="3,10", show_default=True,
              help="The shifts' range in frames, LOW,HIGH: each is ±k with k drawn from LOW…HIGH.")
def demo_corpus(root: Path, speakers: int, clips_per_speaker: int, splits: str, seed: int, size: int,
                shift_share: float, shift_frames: str) -> None:
    """Generate the demo corpus (synthetic speech, animated face), laid out like LRS2."""
    from unisync_model.corpora.demo import make_demo_corpus
    split_speakers = {k: int(v) for k, v in (item.split("=") for item in splits.split(","))}
    make_demo_corpus(root, speakers=speakers, clips_per_speaker=clips_per_speaker,
                     split_speakers=split_speakers, seed=seed, size=size, shift_share=shift_share,
                     shift_frames=tuple(int(v) for v in shift_frames.split(",")))


@main.command("simulate-corpus")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--layout", type=click.Choice(["lrs2", "cncvs", "folder"]), required=True,
              help="Whose tree and lists: LRS2's, CN-CVS's, or a plain folder of videos.")
@click.option("--clips", type=click.IntRange(min=1), required=True, help="Clips in all (LRS2's size: 144,482).")
@click.option("--sources", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="A folder of videos every clip links to (hard links where possible).")
@click.option("--seed", type=int, default=0, show_default=True)
def simulate_corpus(root: Path, layout: str, clips: int, sources: Path, seed: int) -> None:
    """A corpus of LRS2's or CN-CVS's layout and lists (or a folder of videos) at any size, every clip
    a link to one of a few real videos: for measuring listing, probing and planning at full size."""
    from unisync_model.corpora.simulated import simulate_corpus as simulate
    try:
        made = simulate(layout, root, clips, sources, seed)
    except (ValueError, FileExistsError, FileNotFoundError) as err:  # too few clips, a tree there, no videos
        raise click.ClickException(str(err)) from None
    logging.getLogger("unisync").info("simulate-corpus: %d %s clips in %s (%s)", made.clips, layout, root,
                                      ", ".join(f"{n} {kind}" for kind, n in made.links.items()))


@main.command()
@click.option("--recipe", required=True, help="Corpus recipe: lrs2, cncvs or folder.")
@click.option("--root", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--shards", type=int, required=True, help="Number of shards.")
@click.option("--options", "options_json", default="{}", show_default=True,
              help="The recipe's options as JSON, e.g. '{\"speaker_pattern\": \"...\"}'.")
@click.option("--threads", type=int, default=4, show_default=True,
              help="Probe workers (spawned processes, each one thread; serial under 500 clips a worker).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="clips.parquet to write.")
@click.option("--sizes-out", type=click.Path(path_type=Path), default=None,
              help="Also write each shard's clips, frames and longest clip (JSON), which size its jobs.")
def manifest(recipe: str, root: Path, shards: int, options_json: str, threads: int, out: Path,
             sizes_out: Path | None) -> None:
    """List a corpus's clips with speaker, split, shard, media facts and status."""
    from unisync_model.corpora.manifest import build_manifest, summary, write_manifest
    from unisync_model.corpora.planning import write_shard_sizes
    clips = build_manifest(recipe, root, shards, json.loads(options_json), threads)
    write_manifest(clips, out)
    if sizes_out:
        write_shard_sizes(clips, shards, sizes_out)
    logging.getLogger("unisync").info("manifest: %s", summary(clips))


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


def _representation_command(rep: representations.Representation) -> click.Command:
    """`unisync <name>`: a representation's stage over one shard, as the registry describes it (a visual
    one reads the manifest's clips and its input shards, an audio one its input shard)."""

    def run(manifest_path=None, shard=None, out=None, settings_json="", **inputs) -> None:
        extractor = representations.load(rep.extractor)
        settings = S.parse_json(rep.settings, settings_json)
        paths = [inputs[f"{name}_path"] for name in rep.inputs]
        clips = [] if rep.modality == AUDIO else [_shard_clips(manifest_path, shard)]
        extractor(*clips, *paths, out, settings)

    params = [] if rep.modality == AUDIO else [
        click.Option(["--manifest", "manifest_path"], type=click.Path(exists=True, path_type=Path), required=True),
        click.Option(["--shard"], required=True, help="Shard name, e.g. 000.")]
    for name in rep.inputs:
        optional = name in rep.optional_inputs
        params.append(click.Option([f"--{name}", f"{name}_path"], type=click.Path(exists=True, path_type=Path),
                                   required=not optional, default=None,
                                   help=f"The {name} shard" + (" (when the settings read it)." if optional else ".")))
    params += [click.Option(["--out"], type=click.Path(path_type=Path), required=True),
               click.Option(["--settings", "settings_json"], default="", callback=_settings_text,
                            help="Stage settings: a JSON object, or a JSON file's path.")]
    return Command(rep.name, params=params, callback=run, help=rep.summary)


for _name in representations.names():
    main.add_command(_representation_command(representations.get(_name)))


