"""Paper Table V: the variants it trains, the statistics of its rows, and the workflow's plan for it."""
from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from helpers import ROOT, venv_env

from unisync_model.evaluation.ablation_table import ablation_table, table_rows, variant_name, variant_settings
from unisync_model.settings import TrainSettings, from_dict

DEFAULT_MARGINS = {"mel": [0.1, 0.3], "hubert": [0.3, 0.7]}


def test_a_variant_changes_only_negatives_and_margins():
    train = yaml.safe_load((ROOT / "config.yaml").read_text())["train"]
    settings = from_dict(TrainSettings, variant_settings(train, "x0.5_m0.3-0.7"))
    assert settings.negatives.cross_speaker == 0.5
    assert settings.negatives.same_speaker_overlap == settings.negatives.same_speaker_no_overlap == 0.25
    assert (settings.margins.same_speaker, settings.margins.cross_speaker) == (0.3, 0.7)
    assert settings.lr == train["lr"] and settings.epochs == train["epochs"]
    with pytest.raises(ValueError, match="not a variant name"):
        variant_settings(train, "cross=0.5")


def test_rows_that_ask_for_the_same_settings_share_a_variant():
    rows = table_rows([0.0, 0.2, 0.5], [[0, 0], [0.1, 0.3], [0.3, 0.7]], DEFAULT_MARGINS, ["mel", "hubert"])
    assert len(rows) == 6
    mel = {r["variants"]["mel"] for r in rows}
    hubert = {r["variants"]["hubert"] for r in rows}
    assert len(mel) == len(hubert) == 5  # cross 0.2 with the default margins is also a margins row
    assert rows[1]["variants"]["mel"] == variant_name(0.2, (0.1, 0.3)) == rows[4]["variants"]["mel"]


def test_cross_speaker_rows_report_the_mean_and_margin_rows_the_max(tmp_path):
    rows = table_rows([0.2], [[0.1, 0.3]], DEFAULT_MARGINS, ["mel"])
    files = []
    for seed, accuracy in enumerate((0.80, 0.90)):
        path = tmp_path / f"{seed}.json"
        path.write_text(json.dumps({"accuracy": accuracy}))
        files.append(str(path))
    table = ablation_table(rows, {f"mel/{rows[0]['variants']['mel']}": files})
    assert table["mel_%"].tolist() == [85.0, 90.0]
    assert table["paper_LRS2_mel_%"].tolist() == [89.23, 91.77]


def test_the_workflow_plans_the_ablation_table(tmp_path):
    result = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(ROOT / "config.yaml"), "-n", "ablation_table"],
                            capture_output=True, text=True, env=venv_env())
    assert result.returncode == 0, result.stderr[-2000:]
    stats = result.stdout.split("Job stats:")[1]
    assert "train_variant          10" in stats and "evaluate_variant       10" in stats
