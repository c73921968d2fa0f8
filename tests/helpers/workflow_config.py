"""The workflow tests' tiny configuration, .test/config.yaml: an overlay on config.yaml that the
tests merge into it (as `snakemake --configfile .test/config.yaml` does) and write to a working directory."""
from __future__ import annotations

import yaml

from helpers.paths import ROOT

TINY_CONFIG = ROOT / ".test" / "config.yaml"
TINY = yaml.safe_load(TINY_CONFIG.read_text())
# on top of TINY: one combination on a demo corpus large enough to learn from (tests/test_workflow.py)
LEARNING = yaml.safe_load((ROOT / ".test" / "learning.yaml").read_text())
COMBINATIONS = [(c["audio"], c["visual"]) for c in TINY["combinations"]]


def merged(base: dict, override: dict) -> dict:
    """`override` merged into `base`: nested dicts key by key, anything else (lists too) replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and key in base else value
    return out
