"""The results table of a corpus, like paper Table IV: one row per audio × visual combination, with
the maximum and mean accuracy over the seeds it was trained with, and a bar chart of the same.

Both accuracy protocols go into one table when both kinds of metrics JSON are given (each JSON's
"protocol" says which it is): the binary protocol's columns keep their names (max_%, mean_%,
std_%, synced_%, unsynced_%, pairs), the offset protocol's start with offset_, and the LSE columns
come from the offset evaluation; the protocol column lists the protocols of each row and the notes
under the table define every one."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.figures import pyplot, save_png

PROTOCOL_NOTES = {
    "binary": "binary protocol (max_%, mean_%, std_%, synced_%, unsynced_%, pairs; Wav2Lip, LatentSync, the paper): "
              "balanced random synced / unsynced pairs of the test split, correct when (p_sync >= threshold) == "
              "synced; unsynced = same clip, audio shifted by >= min_shift frames",
    "offset": "offset protocol (offset_K5_%, offset_K15_%; SyncNet, Perfect Match, AVST, VocaLiST): every 5-frame "
              "window of every test clip scores the audio at shifts -15…+15 frames (shifts whose audio leaves the "
              "face segment are excluded, as VocaLiST does), the score curves of the K - 4 windows centred on it "
              "averaged (K frames of context: K = 5 is the window alone), correct when |argmax offset| <= 1; the "
              "share of correct windows per clip, then the mean over clips. Published on LRS2 (K = 5 / 15): "
              "SyncNet 75.8 / 96.1, PM 88.1 / 99.1, AVST 92.0 / 99.6, VocaLiST 92.8 / 99.8",
    "lse": "LSE-D / LSE-C (from the offset evaluation): syncnet_python's computation (Euclidean distances to the "
           "audio at shifts -15…+15, averaged over the windows of a face segment; LSE-D = the minimum, LSE-C = "
           "median - minimum), mean over clips, on the L2-normalised UniSync embeddings (distance = "
           "sqrt(2 - 2 p_sync), range 0…1.41): not SyncNet's scale, not comparable with published LSE numbers",
}
# Paper Table IV (LRS2, binary protocol): max / mean accuracy %, for reference beside our numbers.
PAPER_TABLE_IV = {
    ("hubert", "rgb"): (93.25, 90.09), ("hubert", "tdmm"): (91.40, 89.11), ("mel", "rgb"): (91.31, 87.23),
    ("mel", "tdmm"): (89.00, 85.93), ("hubert", "landmarks"): (89.00, 85.26), ("hubert", "parsing"): (86.04, 82.50),
    ("mel", "landmarks"): (86.23, 82.39), ("mel", "parsing"): (83.64, 79.72),
}
KEYS = ["audio", "visual", "protocol"]
BINARY_COLUMNS = ["seeds", "max_%", "mean_%", "std_%", "synced_%", "unsynced_%", "pairs", "test_clips",
                  "test_speakers", "paper_LRS2_max_%", "paper_LRS2_mean_%"]
OFFSET_COLUMNS = ["offset_seeds", "offset_K5_%", "offset_K15_%", "offset_K5_max_%", "offset_K15_max_%",
                  "LSE-D", "LSE-C"]


def _load(metric_files: list[str | Path]) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in metric_files]


def read_metrics(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per evaluated model (a combination and a seed) under the binary protocol."""
    rows = []
    for m in _load(metric_files):
        if m["protocol"] != "binary":
            continue
        rows.append({"audio": m["audio"], "visual": m["visual"], "protocol": m["protocol"], "seed": m.get("seed"),
                     "accuracy": 100 * m["accuracy"], "synced": 100 * m["accuracy_synced"],
                     "unsynced": 100 * m["accuracy_unsynced"], "pairs": m["pairs"], "clips": m["clips"],
                     "speakers": m["speakers"]})
    return pd.DataFrame(rows, columns=["audio", "visual", "protocol", "seed", "accuracy", "synced", "unsynced",
                                       "pairs", "clips", "speakers"])


def read_offset_metrics(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per evaluated model under the offset protocol (with its LSE-D / LSE-C)."""
    rows = []
    for m in _load(metric_files):
        if m["protocol"] != "offset":
            continue
        rows.append({"audio": m["audio"], "visual": m["visual"], "seed": m.get("seed"),
                     "k5": 100 * m["accuracy_k5"], "k15": 100 * m["accuracy_k15"], "lse_d": m["lse_d"],
                     "lse_c": m["lse_c"], "clips": m["clips"], "speakers": m["speakers"]})
    return pd.DataFrame(rows, columns=["audio", "visual", "seed", "k5", "k15", "lse_d", "lse_c", "clips", "speakers"])


def _binary_table(runs: pd.DataFrame) -> pd.DataFrame:
    table = runs.groupby(["audio", "visual"], sort=False).agg(
        seeds=("accuracy", "size"), max_accuracy=("accuracy", "max"), mean_accuracy=("accuracy", "mean"),
        std_accuracy=("accuracy", "std"), synced=("synced", "mean"), unsynced=("unsynced", "mean"),
        pairs=("pairs", "first"), test_clips=("clips", "first"), test_speakers=("speakers", "first")).reset_index()
    table["std_accuracy"] = table["std_accuracy"].fillna(0.0)
    rounded = ["max_accuracy", "mean_accuracy", "std_accuracy", "synced", "unsynced"]
    table[rounded] = table[rounded].round(2)
    return table.rename(columns={"max_accuracy": "max_%", "mean_accuracy": "mean_%", "std_accuracy": "std_%",
                                 "synced": "synced_%", "unsynced": "unsynced_%"})


def _offset_table(runs: pd.DataFrame) -> pd.DataFrame:
    table = runs.groupby(["audio", "visual"], sort=False).agg(
        offset_seeds=("k5", "size"), k5=("k5", "mean"), k15=("k15", "mean"), k5_max=("k5", "max"),
        k15_max=("k15", "max"), lse_d=("lse_d", "mean"), lse_c=("lse_c", "mean"),
        offset_clips=("clips", "first"), offset_speakers=("speakers", "first")).reset_index()
    table[["k5", "k15", "k5_max", "k15_max"]] = table[["k5", "k15", "k5_max", "k15_max"]].round(2)
    table[["lse_d", "lse_c"]] = table[["lse_d", "lse_c"]].round(4)
    return table.rename(columns={"k5": "offset_K5_%", "k15": "offset_K15_%", "k5_max": "offset_K5_max_%",
                                 "k15_max": "offset_K15_max_%", "lse_d": "LSE-D", "lse_c": "LSE-C"})


def results_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per combination: the binary protocol's max / mean over seeds (and the paper's), and
    when offset-protocol JSONs are among the files, the offset accuracy (K = 5, 15: mean and max
    over seeds) and LSE-D / LSE-C (mean over seeds)."""
    binary, offset = _binary_table(read_metrics(metric_files)), _offset_table(read_offset_metrics(metric_files))
    if binary.empty and offset.empty:
        raise ValueError("no binary or offset metrics among the files")
    if offset.empty:
        table = binary
    else:
        table = binary.merge(offset, on=["audio", "visual"], how="outer", sort=False)
        table["test_clips"] = table["test_clips"].fillna(table["offset_clips"])  # the same test split
        table["test_speakers"] = table["test_speakers"].fillna(table["offset_speakers"])
    combos = [(a, v) for a, v in zip(table["audio"], table["visual"])]
    in_binary, in_offset = set(zip(binary["audio"], binary["visual"])), set(zip(offset["audio"], offset["visual"]))
    table["protocol"] = [" + ".join(p for p, done in (("binary", c in in_binary), ("offset", c in in_offset)) if done)
                         for c in combos]
    paper = [PAPER_TABLE_IV.get(c, (None, None)) for c in combos]
    table["paper_LRS2_max_%"] = [p[0] for p in paper]
    table["paper_LRS2_mean_%"] = [p[1] for p in paper]
    for col in ("seeds", "pairs", "test_clips", "test_speakers", "offset_seeds"):
        if col in table:
            table[col] = table[col].astype("Int64")  # counts stay integers where a protocol is missing
    order = ["mean_%"] if offset.empty else ["mean_%", "offset_K5_%"]
    table = table.sort_values(order, ascending=False, na_position="last").reset_index(drop=True)
    return table[KEYS + BINARY_COLUMNS + ([] if offset.empty else OFFSET_COLUMNS)]


def bar_chart(table: pd.DataFrame, corpus: str, path: Path) -> None:
    """Binary accuracy per combination (mean bars, max dots, the paper's mean), and the offset
    protocol's K = 5 accuracy (mean over seeds) where it was evaluated; the legend names each."""
    plt = pyplot()
    labels = [f"{a} × {v}" for a, v in zip(table["audio"], table["visual"])]
    fig, ax = plt.subplots(figsize=(1.2 * len(table) + 2, 4))
    if table["mean_%"].notna().any():
        ax.bar(labels, table["mean_%"].fillna(0), color="#4c72b0", label="binary: mean over seeds")
        ax.scatter(labels, table["max_%"], color="#dd8452", zorder=3, label="binary: max over seeds")
    if table["paper_LRS2_mean_%"].notna().any():
        ax.scatter(labels, table["paper_LRS2_mean_%"], marker="_", s=400, color="black", zorder=3,
                   label="binary: paper, LRS2 (mean)")
    if "offset_K5_%" in table and table["offset_K5_%"].notna().any():
        ax.scatter(labels, table["offset_K5_%"], marker="D", color="#55a868", zorder=3,
                   label="offset, K = 5: mean over seeds")
    ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylim(0 if "offset_K5_%" in table else 40, 100)
    ax.set_ylabel("sync accuracy, %")
    ax.set_title(f"UniSync on {corpus}: accuracy per audio × visual representation")
    ax.legend(loc="lower right", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    save_png(fig, path)


def write_table(table: pd.DataFrame, corpus: str, md_path: str | Path, csv_path: str | Path,
                png_path: str | Path | None = None) -> None:
    protocols = sorted({p for row in table["protocol"] for p in row.split(" + ")})
    notes = [PROTOCOL_NOTES[p] for p in protocols]
    if "offset" in protocols:
        notes.append(PROTOCOL_NOTES["lse"])
    notes.append("max / mean: over the seeds each combination was trained with (offset_K5_% / offset_K15_%, LSE-D "
                 "and LSE-C: mean; offset_*_max_%: max); paper_LRS2: paper Table IV on LRS2, binary protocol, for "
                 "reference (a different corpus unless this is LRS2)")
    notes = "\n".join(f"- {n}" for n in notes)
    markdown = f"# UniSync results: {corpus}\n\n{table.to_markdown(index=False)}\n\n{notes}\n"
    write_atomic(md_path, markdown)
    write_atomic(csv_path, table.to_csv(index=False))
    if png_path:
        bar_chart(table, corpus, Path(png_path))
