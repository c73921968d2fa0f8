"""The report of a run (results/<corpus>/report/): what happened to every clip of the manifest.

  clips.csv          one row per clip: final status, per stage its frames or its skip reason, its
                     contact sheet, and the manifest's columns (paths, probe facts)
  counts.csv         clips per scope (manifest, each stage, final), split, outcome and reason kind
  summary.md         those counts for a person, and every clip a stage lost (a bug to look into)
  contact_sheets/    one image of evenly spaced mouth crops per clip with rgb crops
  contact_sheet.png  one strip per clip for the first clips, to scan many at once

With the resync stage's decisions, clips.csv also says what resync did to each clip (`resync_*`
columns: every segment's decision, and the offset, confidence and audio shift of its longest one).

Each file is written under a temporary name and renamed; summary.md comes last, so its presence
means the report is complete.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from unisync_model.corpora.manifest import STATUS_OK, read_manifest
from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.shards import ShardReader
from unisync_model.reporting.contact_sheets import check_crops, clip_sheet, overview_sheet, pick_frames, safe_name

log = logging.getLogger(__name__)

OUTCOME_ORDER = ["ok", "written", "skipped", "missing"]
SHOWN_PROBLEMS = 50


def reason_kind(reason: str) -> str:
    """What to count a reason under: its text before the first ':', numbers as N, so 'face in only
    30% of frames' and 'face in only 42% of frames' count together (clips.csv keeps the full text)."""
    return re.sub(r"\d+(\.\d+)?", "N", str(reason).split(":", 1)[0]).strip()


def read_stage(shards_dir: Path, stage: str, shards: list[str]) -> pd.DataFrame:
    """Every clip a stage's shard files account for: clip_id, shard, frames (written) or reason (skipped)."""
    parts = []
    for shard in shards:
        path = shards_dir / stage / f"{shard}.h5"
        if not path.is_file():  # a report without it would call every clip of the shard lost
            raise FileNotFoundError(f"{path}: no {stage} shard {shard}; run the {stage} stage first")
        reader = ShardReader(path)
        parts.append(pd.DataFrame({"clip_id": reader.clip_ids, "shard": shard,
                                   "frames": pd.array(np.diff(reader.offsets), dtype="Int64"), "reason": None,
                                   "info": [json.dumps(reader.info(c), sort_keys=True) for c in reader.clip_ids]}))
        parts.append(pd.DataFrame({"clip_id": [s["clip_id"] for s in reader.skipped], "shard": shard,
                                   "frames": pd.array([None] * len(reader.skipped), dtype="Int64"),
                                   "reason": [s["reason"] for s in reader.skipped], "info": None}))
    return pd.concat(parts, ignore_index=True)


def stage_outcomes(clips: pd.DataFrame, records: pd.DataFrame, sent: pd.Series) -> pd.DataFrame:
    """Per manifest clip, in its order: outcome (written, skipped or missing; empty for a clip the
    manifest skipped, which no stage sees), frames and reason. A clip found only under another shard
    is missing from its own (and a stray record where it was found)."""
    found = records.drop_duplicates(["clip_id", "shard"])
    out = clips[["clip_id", "shard"]].merge(found, on=["clip_id", "shard"], how="left")
    out["outcome"] = np.select([out["frames"].notna(), out["reason"].notna()], ["written", "skipped"], "missing")
    out.loc[~sent.to_numpy(), "outcome"] = ""
    return out


def stray_records(clips: pd.DataFrame, records: pd.DataFrame, sent: pd.Series, stage: str) -> list[str]:
    """Records a stage should not have: clips not sent to that shard, or accounted for twice."""
    expected = set(zip(clips.loc[sent, "clip_id"], clips.loc[sent, "shard"]))
    stray = [f"{stage} shard {shard}: {cid} (not sent to this shard by the manifest)"
             for cid, shard in zip(records["clip_id"], records["shard"]) if (cid, shard) not in expected]
    twice = records[records.duplicated(["clip_id", "shard"])]
    return stray + [f"{stage} shard {shard}: {cid} (accounted for twice)"
                    for cid, shard in zip(twice["clip_id"], twice["shard"])]


def final_outcomes(clips: pd.DataFrame, outcomes: dict[str, pd.DataFrame], sent: pd.Series) -> pd.DataFrame:
    """Per clip: outcome (ok, skipped, missing), the stage where it happened, the reason and the status
    text. The manifest's skip comes first, then the first stage in pipeline order."""
    final = pd.DataFrame({"outcome": "ok", "stage": "", "reason": ""}, index=clips.index)
    for stage, out in reversed(outcomes.items()):  # reversed: the earliest stage writes last and wins
        bad = out["outcome"].isin(["skipped", "missing"]).to_numpy()
        final.loc[bad, "outcome"] = out.loc[bad, "outcome"].to_numpy()
        final.loc[bad, "stage"] = stage
        final.loc[bad, "reason"] = out.loc[bad, "reason"].fillna("").to_numpy()
    final.loc[~sent, ["outcome", "stage"]] = ["skipped", "manifest"]
    final.loc[~sent, "reason"] = clips.loc[~sent, "status"].str.removeprefix("skipped: ")
    final["status"] = np.select(
        [final["outcome"] == "ok", final["outcome"] == "skipped"],
        ["ok", "skipped at " + final["stage"] + ": " + final["reason"]], "missing from " + final["stage"])
    return final


def stage_cell(out: pd.DataFrame, stage: str) -> pd.Series:
    """A stage's column in clips.csv: frames, 'skipped: <reason>', 'missing from <stage>' or empty."""
    return pd.Series(np.select(
        [out["outcome"] == "written", out["outcome"] == "skipped", out["outcome"] == "missing"],
        [out["frames"].astype(str), "skipped: " + out["reason"].fillna(""), f"missing from {stage}"], ""))


def stage_reasons(outcomes: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Each stage's reason kind per skipped clip; a skip carried over from an earlier stage (same
    reason) reads 'from <stage>: <kind>', so a stage is not blamed for what happened upstream."""
    kinds, earlier = {}, []
    for stage, out in outcomes.items():
        skipped = out["outcome"] == "skipped"
        origin = pd.Series("", index=out.index)
        for prior, reasons in reversed(earlier):  # reversed: the earliest stage writes last and wins
            origin[skipped & (reasons == out["reason"])] = prior
        kind = out["reason"].fillna("").map(reason_kind)
        kinds[stage] = kind.where(origin == "", "from " + origin + ": " + kind).where(skipped, "")
        earlier.append((stage, out["reason"].where(skipped)))
    return kinds


def count_scopes(clips: pd.DataFrame, outcomes: dict[str, pd.DataFrame], final: pd.DataFrame,
                 sent: pd.Series) -> dict[str, pd.DataFrame]:
    """outcome and reason kind per clip for each scope: the manifest, each stage, the final status."""
    manifest = pd.DataFrame({"outcome": np.where(sent, "ok", "skipped"),
                             "reason": np.where(sent, "", final["reason"].map(reason_kind))})
    stages = {stage: pd.DataFrame({"outcome": outcomes[stage]["outcome"], "reason": kind})
              for stage, kind in stage_reasons(outcomes).items()}
    final_reason = np.select([final["outcome"] == "skipped", final["outcome"] == "missing"],
                             [final["stage"] + ": " + final["reason"].map(reason_kind), final["stage"]], "")
    return {"manifest": manifest, **stages, "final": pd.DataFrame({"outcome": final["outcome"],
                                                                   "reason": final_reason})}


def count_table(clips: pd.DataFrame, scopes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Clips per scope, split ('all' and each), outcome and reason kind, in pipeline order."""
    events = pd.concat([pd.DataFrame({"scope": name, "split": clips["split"], "outcome": o["outcome"],
                                      "reason": o["reason"]}) for name, o in scopes.items()])
    events = events[events["outcome"] != ""]
    keys = ["scope", "split", "outcome", "reason"]
    counts = pd.concat([events.assign(split="all"), events]).groupby(keys).size().rename("clips").reset_index()
    order = {"scope": list(scopes), "split": ["all", *sorted(clips["split"].unique())], "outcome": OUTCOME_ORDER}
    return counts.sort_values(keys, key=lambda col: col.map(order[col.name].index) if col.name in order else col,
                              ignore_index=True)


def _pivot(counts: pd.DataFrame, index: list[str], columns: str, order: list[str]) -> pd.DataFrame:
    table = counts.pivot_table(index=index, columns=columns, values="clips", aggfunc="sum", fill_value=0, sort=False)
    return table.reindex(columns=order, fill_value=0)  # a zero column says 'none', an absent one says nothing


def summary_markdown(title: str, counts: pd.DataFrame, stages: list[str], problems: list[str],
                     sheets: int, overview: int) -> str:
    all_splits = counts[counts["split"] == "all"]
    final = counts[counts["scope"] == "final"]
    totals = final[final["split"] == "all"].groupby("outcome")["clips"].sum()
    by_split = _pivot(final, ["split"], "outcome", ["ok", "skipped", "missing"])
    by_split.insert(0, "clips", by_split.sum(axis=1))
    by_stage = _pivot(all_splits[all_splits["scope"].isin(stages)], ["scope"], "outcome",
                      ["written", "skipped", "missing"])
    skipped = counts[(counts["outcome"] == "skipped") & (counts["scope"] != "final")]
    by_reason = _pivot(skipped, ["scope", "reason"], "split", list(dict.fromkeys(counts["split"])))
    lines = [f"# Clip report: {title}", "",
             f"{totals.sum()} clips: {totals.get('ok', 0)} ok, {totals.get('skipped', 0)} skipped, "
             f"{totals.get('missing', 0)} missing. Every clip's status and reason: clips.csv; "
             "these counts: counts.csv.", "",
             "## By split", "", by_split.to_markdown(), "",
             "## By stage (clips the manifest kept)", "", by_stage.rename_axis("stage").to_markdown(), "",
             "## Skipped, by reason", "",
             by_reason.reset_index().rename(columns={"scope": "stage"}).to_markdown(index=False)
             if len(by_reason) else "No clip skipped.", "",
             "## Problems", ""]
    if problems:
        lines += [f"{len(problems)} clip records do not add up (a bug in a stage; the report shows them, "
                  "it does not fix them):", "", "```", *problems[:SHOWN_PROBLEMS], "```", ""]
        if len(problems) > SHOWN_PROBLEMS:
            lines += [f"… and {len(problems) - SHOWN_PROBLEMS} more (see the missing ones in clips.csv).", ""]
    else:
        lines += ["None: every stage accounts for every clip the manifest sent it.", ""]
    lines += ["## Contact sheets", "",
              f"{sheets} clips with mouth crops: contact_sheets/<name>.png (the name of each clip in clips.csv, "
              f"column contact_sheet); contact_sheet.png shows the first {overview}.", ""]
    return "\n".join(lines)


def write_png(path: Path, image: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    write_atomic(path, png.tobytes())


def write_contact_sheets(clips: pd.DataFrame, has_crops: pd.Series, readers: dict[str, ShardReader],
                         out_dir: Path, tiles: int, overview_clips: int) -> pd.Series:
    """A sheet per clip with crops, and the overview; returns each clip's sheet path ('' if none)."""
    names = clips["clip_id"].map(safe_name)
    if names.str.lower().duplicated().any():  # also unique on case-insensitive file systems
        raise ValueError(f"contact sheet names collide: {names[names.str.lower().duplicated()].tolist()[:5]}")
    (out_dir / "contact_sheets").mkdir(parents=True, exist_ok=True)
    paths = pd.Series("", index=clips.index)
    strips = []
    for k in clips.index[has_crops.to_numpy()]:
        clip_id, reader = clips.at[k, "clip_id"], readers[clips.at[k, "shard"]]
        indices = pick_frames(reader.length(clip_id), tiles)
        frames = np.stack([reader.read(clip_id, t, t + 1)[0] for t in indices])
        check_crops(frames)
        paths[k] = f"contact_sheets/{names[k]}.png"
        write_png(out_dir / paths[k], clip_sheet(frames, indices))
        if len(strips) < overview_clips:
            strips.append((clip_id, frames))
    if strips:
        write_png(out_dir / "contact_sheet.png", overview_sheet(strips))
    return paths


def resync_columns(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per clip: its segments' decisions in order (e.g. "keep", "shift; drop"), and the offset,
    confidence, audio shift and reason of its segment with the most windows."""
    ordered = decisions.sort_values(["clip_id", "segment"], kind="stable")
    main = ordered.sort_values("windows", ascending=False, kind="stable").drop_duplicates("clip_id")
    out = main.set_index("clip_id")[["offset_frames", "confidence", "audio_shift", "reason"]]
    out.columns = [f"resync_{c}" for c in out.columns]
    out.insert(0, "resync", ordered.groupby("clip_id", sort=False)["decision"].agg("; ".join))
    return out


def write_report(manifest: str | Path, shards_dir: str | Path, stages: list[str], shards: list[str],
                 out_dir: str | Path, crops_stage: str = "rgb", tiles: int = 16, overview_clips: int = 64,
                 title: str | None = None, resync: pd.DataFrame | None = None) -> pd.DataFrame:
    """Write the report folder (see the module docstring); `stages` in pipeline order; `resync`: the
    resync stage's decisions table. Returns clips.csv."""
    shards_dir, out_dir = Path(shards_dir), Path(out_dir)
    clips = read_manifest(manifest).reset_index(drop=True)
    if unknown := sorted(set(clips["shard"]) - set(shards)):
        raise ValueError(f"the manifest has shards {unknown} that are not among {shards}")
    sent = clips["status"] == STATUS_OK
    records = {stage: read_stage(shards_dir, stage, shards) for stage in stages}
    outcomes = {stage: stage_outcomes(clips, recs, sent) for stage, recs in records.items()}
    final = final_outcomes(clips, outcomes, sent)
    problems = [f"{stage} shard {clips.at[k, 'shard']}: {clips.at[k, 'clip_id']} (missing from {stage})"
                for stage, out in outcomes.items() for k in out.index[out["outcome"] == "missing"]]
    problems += [line for stage, recs in records.items() for line in stray_records(clips, recs, sent, stage)]

    out_dir.mkdir(parents=True, exist_ok=True)
    sheets = pd.Series("", index=clips.index)
    if crops_stage in outcomes:
        readers = {shard: ShardReader(shards_dir / crops_stage / f"{shard}.h5") for shard in shards}
        sheets = write_contact_sheets(clips, outcomes[crops_stage]["outcome"] == "written", readers, out_dir,
                                      tiles, overview_clips)

    table = clips[["clip_id", "speaker", "split", "shard"]].assign(outcome=final["outcome"], status=final["status"])
    for stage, out in outcomes.items():
        table[stage] = stage_cell(out, stage)
    for stage, out in outcomes.items():  # what a stage recorded about each clip (e.g. the faces it saw)
        info = out["info"].fillna("").replace("{}", "")
        if (info != "").any():
            table[f"{stage}_info"] = info.to_numpy()
    table["contact_sheet"] = sheets
    if resync is not None:
        table = table.join(resync_columns(resync), on="clip_id")
    extras = [c for c in clips.columns if c not in table.columns and c != "status"]
    table = pd.concat([table, clips[extras]], axis=1)
    counts = count_table(clips, count_scopes(clips, outcomes, final, sent))
    write_atomic(out_dir / "clips.csv", table.to_csv(index=False))
    write_atomic(out_dir / "counts.csv", counts.to_csv(index=False))
    n_sheets = int((sheets != "").sum())
    write_atomic(out_dir / "summary.md", summary_markdown(title or out_dir.parent.name, counts, stages, problems,
                                                          n_sheets, min(n_sheets, overview_clips)))
    tally = final["outcome"].value_counts()
    log.info("report: %d clips: %d ok, %d skipped, %d missing; %d problems; %d contact sheets -> %s", len(clips),
             tally.get("ok", 0), tally.get("skipped", 0), tally.get("missing", 0), len(problems), n_sheets, out_dir)
    return table
