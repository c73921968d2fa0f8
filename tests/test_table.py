"""The results table: max and mean over seeds per combination, the paper's numbers beside them, a chart;
the offset protocol's columns and LSE-D / LSE-C beside the binary ones, every protocol named."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from unisync_model.evaluation.results_table import results_table, write_table
from helpers.images import assert_figure


def metrics(tmp_path, audio, visual, seed, accuracy):
    path = tmp_path / f"{audio}_{visual}_{seed}.json"
    path.write_text(json.dumps({"protocol": "binary", "audio": audio, "visual": visual, "seed": seed,
                                "accuracy": accuracy, "accuracy_synced": accuracy, "accuracy_unsynced": accuracy,
                                "pairs": 2000, "clips": 16, "speakers": 2}))
    return path


def test_max_and_mean_over_seeds(tmp_path):
    files = [metrics(tmp_path, "mel", "rgb", s, a) for s, a in enumerate((0.90, 0.80, 0.85))]
    files += [metrics(tmp_path, "hubert", "tdmm", s, a) for s, a in enumerate((0.95, 0.93))]
    table = results_table(files).set_index(["audio", "visual"])
    assert table.loc[("mel", "rgb"), "seeds"] == 3
    assert table.loc[("mel", "rgb"), "max_%"] == 90.0 and table.loc[("mel", "rgb"), "mean_%"] == 85.0
    assert table.loc[("hubert", "tdmm"), "mean_%"] == 94.0
    assert table.index[0] == ("hubert", "tdmm")  # best mean first
    assert table.loc[("mel", "rgb"), "paper_LRS2_max_%"] == 91.31  # paper Table IV beside ours

    md, csv, png = tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.png"
    write_table(results_table(files), "demo", md, csv, png)
    assert "binary protocol" in md.read_text() and "max / mean" in md.read_text()
    assert len(pd.read_csv(csv)) == 2
    assert_figure(png)


def offset_metrics(tmp_path, audio, visual, seed, k5, k15, lse_d=0.9, lse_c=0.2):
    path = tmp_path / f"{audio}_{visual}_{seed}_offset.json"
    path.write_text(json.dumps({"protocol": "offset", "audio": audio, "visual": visual, "seed": seed,
                                "accuracy_k5": k5, "accuracy_k15": k15, "lse_d": lse_d, "lse_c": lse_c,
                                "clips": 16, "speakers": 2}))
    return path


def test_binary_only_table_keeps_its_columns(tmp_path):
    table = results_table([metrics(tmp_path, "mel", "rgb", 0, 0.9)])
    assert list(table["protocol"]) == ["binary"]
    assert not any(c.startswith("offset_") or c.startswith("LSE") for c in table.columns)
    assert table["seeds"].tolist() == [1]


def test_both_protocols_in_one_table_each_named(tmp_path):
    files = [metrics(tmp_path, "mel", "rgb", s, a) for s, a in enumerate((0.90, 0.80))]
    files += [offset_metrics(tmp_path, "mel", "rgb", s, k5, k15, lse_d=d, lse_c=c)
              for s, (k5, k15, d, c) in enumerate(((0.70, 0.95, 0.8, 0.3), (0.60, 0.85, 1.0, 0.1)))]
    files += [offset_metrics(tmp_path, "hubert", "rgb", 0, 0.5, 0.6)]  # offset only
    files += [metrics(tmp_path, "mel", "tdmm", 0, 0.7)]  # binary only
    table = results_table(files).set_index(["audio", "visual"])
    row = table.loc[("mel", "rgb")]
    assert row["protocol"] == "binary + offset"
    assert (row["seeds"], row["mean_%"], row["max_%"]) == (2, 85.0, 90.0)
    assert (row["offset_seeds"], row["offset_K5_%"], row["offset_K15_%"]) == (2, 65.0, 90.0)
    assert (row["offset_K5_max_%"], row["offset_K15_max_%"]) == (70.0, 95.0)
    assert row["LSE-D"] == pytest.approx(0.9) and row["LSE-C"] == pytest.approx(0.2)
    assert table.loc[("hubert", "rgb"), "protocol"] == "offset"
    assert pd.isna(table.loc[("hubert", "rgb"), "mean_%"]) and table.loc[("hubert", "rgb"), "test_clips"] == 16
    assert table.loc[("mel", "tdmm"), "protocol"] == "binary" and pd.isna(table.loc[("mel", "tdmm"), "offset_K5_%"])
    assert list(table.index) == [("mel", "rgb"), ("mel", "tdmm"), ("hubert", "rgb")]  # binary mean, then the rest

    md, csv, png = tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.png"
    write_table(results_table(files), "demo", md, csv, png)
    text = md.read_text()
    assert "binary protocol" in text and "offset protocol" in text and "LSE-D / LSE-C" in text
    assert "92.8 / 99.8" in text  # VocaLiST's published LRS2 numbers beside ours
    assert "offset_K5_%" in text and "binary + offset" in text
    assert len(pd.read_csv(csv)) == 3
    assert_figure(png)

