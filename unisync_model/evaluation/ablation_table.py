"""Paper Table V: the ablations over the share of cross-speaker negatives and over the margins.

A variant of the training settings is named by what it changes, `x<cross share>_m<same>-<cross>`
(e.g. x0.2_m0.1-0.3), so that two rows asking for the same settings share one trained model. The
rows of the table are the paper's: cross-speaker share 0, 0.2, 0.5 (margins at the audio
representation's default; mean accuracy over seeds, as the paper reports them) and margins (0, 0),
(0.1, 0.3), (0.3, 0.7) (cross-speaker share 0.2; max over seeds, as the paper reports them).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from unisync_model.io.atomic_files import write_atomic

VARIANT = re.compile(r"x(?P<cross>[0-9.]+)_m(?P<same_margin>[0-9.]+)-(?P<cross_margin>[0-9.]+)")
# Paper Table V (LRS2, RGB): accuracy % with Mel and with HuBERT.
PAPER_TABLE_V = {
    ("cross-speaker share", "0.0"): (88.96, 91.79), ("cross-speaker share", "0.2"): (89.23, 92.18),
    ("cross-speaker share", "0.5"): (88.93, 91.96), ("margins (same, cross)", "(0.0, 0.0)"): (91.22, 93.62),
    ("margins (same, cross)", "(0.1, 0.3)"): (91.77, 93.99), ("margins (same, cross)", "(0.3, 0.7)"): (91.50, 94.27),
}


def variant_name(cross_share: float, margins: tuple[float, float]) -> str:
    return f"x{float(cross_share)}_m{float(margins[0])}-{float(margins[1])}"


def variant_settings(train: dict, name: str) -> dict:
    """The train section for a variant: the two same-speaker kinds share what cross-speaker leaves."""
    match = VARIANT.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a variant name like x0.2_m0.1-0.3")
    cross = float(match["cross"])
    return dict(train, negatives={"same_speaker_overlap": (1 - cross) / 2, "same_speaker_no_overlap": (1 - cross) / 2,
                                  "cross_speaker": cross},
                margins={"same_speaker": float(match["same_margin"]), "cross_speaker": float(match["cross_margin"])})


def table_rows(cross_shares: list[float], margins: list[list[float]], default_margins: dict[str, list[float]],
               audios: list[str]) -> list[dict]:
    """Each row of Table V with the variant each audio representation trains for it."""
    rows = []
    for share in cross_shares:
        rows.append({"aspect": "cross-speaker share", "value": f"{float(share)}", "statistic": "mean",
                     "variants": {a: variant_name(share, default_margins[a]) for a in audios}})
    for same, cross in margins:
        rows.append({"aspect": "margins (same, cross)", "value": f"({float(same)}, {float(cross)})",
                     "statistic": "max", "variants": {a: variant_name(0.2, (same, cross)) for a in audios}})
    return rows


def ablation_table(rows: list[dict], metric_files: dict[str, list[str]]) -> pd.DataFrame:
    """`metric_files`: '<audio>/<variant>' → the metrics JSONs of its seeds."""
    out = []
    for row in rows:
        record = {"aspect": row["aspect"], "value": row["value"], "statistic": row["statistic"]}
        for audio, variant in row["variants"].items():
            accuracies = [100 * json.loads(Path(f).read_text())["accuracy"] for f in metric_files[f"{audio}/{variant}"]]
            value = max(accuracies) if row["statistic"] == "max" else sum(accuracies) / len(accuracies)
            record[f"{audio}_%"] = round(value, 2)
            record[f"{audio}_seeds"] = len(accuracies)
        paper = PAPER_TABLE_V.get((row["aspect"], row["value"]))
        record["paper_LRS2_mel_%"], record["paper_LRS2_hubert_%"] = paper or (None, None)
        out.append(record)
    return pd.DataFrame(out)


def write_ablation_table(table: pd.DataFrame, corpus: str, visual: str, md_path: str | Path,
                         csv_path: str | Path) -> None:
    notes = ("- binary protocol on the test split (balanced synced / unsynced pairs, threshold 0.5)\n"
             f"- visual representation: {visual}; cross-speaker rows keep each audio representation's default "
             "margins and report the mean over seeds; margin rows use a cross-speaker share of 0.2 and report "
             "the max over seeds, as paper Table V does\n"
             "- paper_LRS2: paper Table V on LRS2, for reference")
    text = f"# UniSync ablations (paper Table V): {corpus}\n\n{table.to_markdown(index=False)}\n\n{notes}\n"
    write_atomic(md_path, text)
    write_atomic(csv_path, table.to_csv(index=False))
