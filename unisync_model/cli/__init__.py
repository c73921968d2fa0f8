"""The `unisync` command: one subcommand per job, each a thin call into the library. This module holds
the group, its manners and the options the commands share; the commands live beside it by area
(corpus and extraction stages, training and evaluation, scoring, reporting).

Stage settings arrive as a JSON object (`--settings`: the object itself or a file holding it), the way
the workflow passes a config.yaml section; keys left out take the defaults in unisync_model/settings.py.
`-v` (debug) and `-q` (warnings and errors only, no progress bars) work before or after the subcommand.
"""
from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

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


def _is_file(value: str) -> bool:
    try:
        return Path(value).expanduser().is_file()
    except OSError:  # e.g. a name longer than the file system allows
        return False


def _settings_text(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--settings: a JSON object, or the path of a file that holds one; returned as JSON text."""
    if not value:
        return ""
    source, text = "", value
    if not value.lstrip().startswith(("{", "[")) and _is_file(value):
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



# The commands, by area: importing each module adds its commands to `main`.
from unisync_model.cli import reporting, scoring, stages, syncloss, training  # noqa: E402,F401
from unisync_model.cli.stages import _representation_command  # noqa: E402,F401
