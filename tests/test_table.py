"""The results table: max and mean over seeds per combination, the paper's numbers beside them, a chart."""
from __future__ import annotations

import json

import pandas as pd

from unisync_model.table import results_table, write_table


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
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
