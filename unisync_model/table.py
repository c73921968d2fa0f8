"""The results table of a corpus (like paper Table IV): one row per audio × visual combination."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

PROTOCOL_NOTES = {
    "binary": "binary protocol: balanced random synced / unsynced pairs of the test split, correct when "
              "(p_sync >= threshold) == synced; unsynced = same clip, audio shifted by >= min_shift frames",
}


def results_table(metric_files: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        rows.append({"audio": m["audio"], "visual": m["visual"], "protocol": m["protocol"],
                     "accuracy_%": round(100 * m["accuracy"], 2), "pairs": m["pairs"],
                     "synced_%": round(100 * m["accuracy_synced"], 2),
                     "unsynced_%": round(100 * m["accuracy_unsynced"], 2),
                     "test_clips": m["clips"], "test_speakers": m["speakers"]})
    return pd.DataFrame(rows).sort_values("accuracy_%", ascending=False).reset_index(drop=True)


def write_table(table: pd.DataFrame, corpus: str, md_path: str | Path, csv_path: str | Path) -> None:
    notes = "\n".join(f"- {PROTOCOL_NOTES[p]}" for p in sorted(table["protocol"].unique()))
    markdown = f"# UniSync results: {corpus}\n\n{table.to_markdown(index=False)}\n\n{notes}\n"
    for path, text in ((Path(md_path), markdown), (Path(csv_path), table.to_csv(index=False))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
