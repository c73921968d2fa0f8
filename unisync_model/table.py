"""The results table of a corpus, like paper Table IV: one row per audio × visual combination, with
the maximum and mean accuracy over the seeds it was trained with, and a bar chart of the same."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

PROTOCOL_NOTES = {
    "binary": "binary protocol: balanced random synced / unsynced pairs of the test split, correct when "
              "(p_sync >= threshold) == synced; unsynced = same clip, audio shifted by >= min_shift frames",
}
# Paper Table IV (LRS2, binary protocol): max / mean accuracy %, for reference beside our numbers.
PAPER_TABLE_IV = {
    ("hubert", "rgb"): (93.25, 90.09), ("hubert", "tdmm"): (91.40, 89.11), ("mel", "rgb"): (91.31, 87.23),
    ("mel", "tdmm"): (89.00, 85.93), ("hubert", "landmarks"): (89.00, 85.26), ("hubert", "parsing"): (86.04, 82.50),
    ("mel", "landmarks"): (86.23, 82.39), ("mel", "parsing"): (83.64, 79.72),
}
KEYS = ["audio", "visual", "protocol"]


def read_metrics(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per evaluated model (a combination and a seed)."""
    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        rows.append({"audio": m["audio"], "visual": m["visual"], "protocol": m["protocol"], "seed": m.get("seed"),
                     "accuracy": 100 * m["accuracy"], "synced": 100 * m["accuracy_synced"],
                     "unsynced": 100 * m["accuracy_unsynced"], "pairs": m["pairs"], "clips": m["clips"],
                     "speakers": m["speakers"]})
    return pd.DataFrame(rows)


def results_table(metric_files: list[str | Path]) -> pd.DataFrame:
    runs = read_metrics(metric_files)
    table = runs.groupby(KEYS, sort=False).agg(
        seeds=("accuracy", "size"), max_accuracy=("accuracy", "max"), mean_accuracy=("accuracy", "mean"),
        std_accuracy=("accuracy", "std"), synced=("synced", "mean"), unsynced=("unsynced", "mean"),
        pairs=("pairs", "first"), test_clips=("clips", "first"), test_speakers=("speakers", "first")).reset_index()
    table["std_accuracy"] = table["std_accuracy"].fillna(0.0)
    paper = [PAPER_TABLE_IV.get((a, v), (None, None)) for a, v in zip(table["audio"], table["visual"])]
    table["paper_lrs2_max"], table["paper_lrs2_mean"] = zip(*paper) if paper else ((), ())
    table = table.sort_values("mean_accuracy", ascending=False).reset_index(drop=True)
    rounded = ["max_accuracy", "mean_accuracy", "std_accuracy", "synced", "unsynced"]
    table[rounded] = table[rounded].round(2)
    return table.rename(columns={"max_accuracy": "max_%", "mean_accuracy": "mean_%", "std_accuracy": "std_%",
                                 "synced": "synced_%", "unsynced": "unsynced_%",
                                 "paper_lrs2_max": "paper_LRS2_max_%", "paper_lrs2_mean": "paper_LRS2_mean_%"})


def bar_chart(table: pd.DataFrame, corpus: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{a} × {v}" for a, v in zip(table["audio"], table["visual"])]
    fig, ax = plt.subplots(figsize=(1.2 * len(table) + 2, 4))
    ax.bar(labels, table["mean_%"], color="#4c72b0", label="mean over seeds")
    ax.scatter(labels, table["max_%"], color="#dd8452", zorder=3, label="max over seeds")
    if table["paper_LRS2_mean_%"].notna().any():
        ax.scatter(labels, table["paper_LRS2_mean_%"], marker="_", s=400, color="black", zorder=3,
                   label="paper, LRS2 (mean)")
    ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylim(40, 100)
    ax.set_ylabel("binary sync accuracy, %")
    ax.set_title(f"UniSync on {corpus}: accuracy per audio × visual representation")
    ax.legend(loc="lower right", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def write_table(table: pd.DataFrame, corpus: str, md_path: str | Path, csv_path: str | Path,
                png_path: str | Path | None = None) -> None:
    notes = "\n".join(f"- {PROTOCOL_NOTES[p]}" for p in sorted(table["protocol"].unique()))
    notes += ("\n- max / mean: over the seeds each combination was trained with; paper_LRS2: paper Table IV on "
              "LRS2, for reference (a different corpus unless this is LRS2)")
    markdown = f"# UniSync results: {corpus}\n\n{table.to_markdown(index=False)}\n\n{notes}\n"
    for path, text in ((Path(md_path), markdown), (Path(csv_path), table.to_csv(index=False))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    if png_path:
        bar_chart(table, corpus, Path(png_path))
