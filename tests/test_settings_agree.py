"""config.yaml, its JSON schema and the settings dataclasses say the same thing: every section a
stage reads has exactly its dataclass's keys in both, and config.yaml's values are the dataclass
defaults, but for the differences listed here with their reason."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from helpers import ROOT
from unisync_model import representations
from unisync_model import settings as S

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())["properties"]

SECTIONS = {"audio": S.AudioSettings, "tracks": S.TracksSettings, "train": S.TrainSettings,
            "evaluate": S.EvalSettings, "resync": S.ResyncSettings,
            **{name: representations.get(name).settings for name in representations.names()}}
# keys the workflow fills in per job rather than from the section: the seed (a wildcard) and the
# margins (config.yaml's `margins` of the combination's audio representation)
FILLED_PER_JOB = {"train": {"seed", "margins"}}
# keys only the workflow reads (whether the stage runs, and its scorer: `unisync resync --scorer --model`)
WORKFLOW_ONLY = {"resync": {"enabled", "scorer", "model", "audio", "visual"}}
# config.yaml's deliberate departures from the dataclass defaults (the paper's values)
DEPARTURES = {("train", "model", "width"): "the demo's narrow model (the paper's: 64)",
              ("train", "model", "embed_dim"): "the demo's narrow model (the paper's: 512)"}


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    else:
        yield path, value


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_config_and_schema_have_the_dataclass_keys(section):
    fields = field_names(SECTIONS[section]) - FILLED_PER_JOB.get(section, set()) | WORKFLOW_ONLY.get(section, set())
    assert set(CONFIG[section]) == fields
    assert set(SCHEMA[section]["properties"]) == fields
    assert set(SCHEMA[section].get("required", [])) == fields
    assert SCHEMA[section].get("additionalProperties") is False


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_config_values_are_the_dataclass_defaults(section):
    own = {k: v for k, v in CONFIG[section].items() if k not in WORKFLOW_ONLY.get(section, set())}
    configured = S.to_dict(S.from_dict(SECTIONS[section], own))
    defaults = S.to_dict(SECTIONS[section]())
    differ = {(section, *path) for path, value in leaves(configured)
              if value != dict(leaves(defaults))[path] and path[0] not in FILLED_PER_JOB.get(section, set())}
    assert differ == {k for k in DEPARTURES if k[0] == section}, {k: DEPARTURES.get(k) for k in differ}


def test_every_representation_has_a_config_section_and_schema():
    for name in representations.names():
        assert name in CONFIG and name in SCHEMA, name


def test_a_wrong_key_is_rejected():
    with pytest.raises((TypeError, ValueError), match="typo"):
        S.from_dict(S.RgbSettings, {**CONFIG["rgb"], "typo": 1})
