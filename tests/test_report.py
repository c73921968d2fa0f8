"""The report accounts for every clip: statuses, counts, clips a stage lost, and contact sheets with
safe names, on small hand-made shards."""
from __future__ import annotations

import re

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from unisync_model.corpora.manifest import write_manifest
from unisync_model.io.shards import ShardWriter
from unisync_model.reporting.clip_report import reason_kind, write_report
from unisync_model.reporting.contact_sheets import LABEL_BAND, pick_frames, safe_name

STAGES = ["audio", "tracks", "rgb", "mel"]
CROP = (12, 24)  # rgb crop height, width
ODD = "spk1/it's \"odd\" $(rm -rf ~); echo"
ZOE = "spk2/Zoë 北京"

# clip id → (split, shard, manifest status, rgb frames)
CLIPS = {
    "spk1/00001": ("train", "000", "ok", 40),
    "spk1 00001": ("train", "001", "ok", 20),            # reads like the one above: its sheet must differ
    ODD: ("train", "000", "ok", 5),                       # fewer frames than tiles
    ZOE: ("val", "001", "ok", 0),                         # tracks: no face in enough frames
    "spk2/00004": ("val", "001", "ok", 0),                # tracks: same kind of reason, another number
    "spk3/00005": ("test", "001", "ok", 30),              # skipped in audio only
    "spk3/00006": ("test", "000", "skipped: file missing", 0),
    "spk3/00007": ("test", "000", "ok", 25),              # lost by rgb: neither written nor skipped
}
TRACK_SKIPS = {ZOE: "face in only 30% of frames", "spk2/00004": "face in only 42% of frames"}
AUDIO_SKIPS = {"spk3/00005": "no audio stream"}
LOST_IN_RGB = "spk3/00007"


def colour(t: int) -> tuple[int, int, int]:
    """A distinct RGB colour per frame index, to tell which frames a sheet shows."""
    return (5 * t, 255 - 5 * t, 100)


def rgb_frames(n: int) -> np.ndarray:
    frames = np.zeros((n, *CROP, 3), np.uint8)
    frames[:] = np.array([colour(t) for t in range(n)], np.uint8)[:, None, None, :]
    return frames


@pytest.fixture
def run(tmp_path):
    """A manifest and the four stages' shards, made the way the stages would (skips carried over)."""
    rows = [{"clip_id": cid, "speaker": cid[:4], "split": split, "path": f"/corpus/{cid}.mp4", "shard": shard,
             "status": status, "fps": 25.0 if status == "ok" else None}
            for cid, (split, shard, status, _) in CLIPS.items()]
    write_manifest(pd.DataFrame(rows), tmp_path / "clips.parquet")
    shards = tmp_path / "shards"
    for shard in ("000", "001"):
        ids = [cid for cid, (_, s, status, _) in CLIPS.items() if s == shard and status == "ok"]
        writers = {stage: ShardWriter(shards / stage / f"{shard}.h5", stage) for stage in STAGES}
        for cid in ids:
            n = CLIPS[cid][3] or 10
            if cid in AUDIO_SKIPS:
                writers["audio"].skip(cid, AUDIO_SKIPS[cid])
                writers["mel"].skip(cid, AUDIO_SKIPS[cid])
            else:
                writers["audio"].add(cid, np.zeros(640 * n, np.int16))
                writers["mel"].add(cid, np.zeros((4 * n, 4), np.float32))
            if cid in TRACK_SKIPS:
                writers["tracks"].skip(cid, TRACK_SKIPS[cid])
                writers["rgb"].skip(cid, TRACK_SKIPS[cid])
            else:
                writers["tracks"].add(cid, np.zeros((n, 5), np.float32))
                if cid != LOST_IN_RGB:
                    writers["rgb"].add(cid, rgb_frames(n))
        for writer in writers.values():
            writer.close()
    return tmp_path


def report(run, **kwargs):
    table = write_report(run / "clips.parquet", run / "shards", STAGES, ["000", "001"], run / "report", **kwargs)
    return table.set_index("clip_id")


def test_every_clip_has_its_final_status(run):
    table = report(run)
    assert table["status"].to_dict() == {
        "spk1/00001": "ok",
        "spk1 00001": "ok",
        ODD: "ok",
        ZOE: "skipped at tracks: face in only 30% of frames",
        "spk2/00004": "skipped at tracks: face in only 42% of frames",
        "spk3/00005": "skipped at audio: no audio stream",
        "spk3/00006": "skipped at manifest: file missing",
        "spk3/00007": "missing from rgb",
    }
    assert table.loc["spk1/00001", ["audio", "tracks", "rgb", "mel"]].tolist() == ["25600", "40", "40", "160"]
    assert table.loc[ZOE, "rgb"] == "skipped: face in only 30% of frames"
    assert table.loc["spk3/00005", "tracks"] == "30"  # the other stages still did their part
    assert table.loc["spk3/00006", STAGES].tolist() == ["", "", "", ""]  # no stage saw it
    assert table.loc[LOST_IN_RGB, "rgb"] == "missing from rgb" and table.loc[LOST_IN_RGB, "mel"] == "100"

    written = pd.read_csv(run / "report" / "clips.csv", keep_default_na=False).set_index("clip_id")
    assert written["status"].to_dict() == table["status"].to_dict()
    assert {"speaker", "split", "shard", "outcome", "contact_sheet", "path", "fps", *STAGES} <= set(written.columns)
    assert not list((run / "report").rglob("*.tmp"))


def test_counts_group_reasons_and_splits(run):
    report(run)
    counts = pd.read_csv(run / "report" / "counts.csv", keep_default_na=False)

    def clips(scope, split, outcome, reason=""):
        hit = counts[(counts["scope"] == scope) & (counts["split"] == split) & (counts["outcome"] == outcome)
                     & (counts["reason"] == reason)]
        return int(hit["clips"].sum())

    assert clips("tracks", "all", "skipped", "face in only N% of frames") == 2
    assert clips("tracks", "val", "skipped", "face in only N% of frames") == 2
    assert clips("tracks", "all", "written") == 5
    assert clips("rgb", "all", "written") == 4 and clips("rgb", "all", "missing") == 1
    assert clips("rgb", "all", "skipped", "from tracks: face in only N% of frames") == 2  # carried, not rgb's
    assert clips("mel", "all", "skipped", "from audio: no audio stream") == 1
    assert clips("manifest", "test", "skipped", "file missing") == 1
    assert clips("final", "all", "ok") == 3
    assert clips("final", "train", "ok") == 3
    assert clips("final", "test", "missing", "rgb") == 1
    assert clips("final", "val", "skipped", "tracks: face in only N% of frames") == 2
    finals = counts[(counts["scope"] == "final") & (counts["split"] == "all")]
    assert finals["clips"].sum() == len(CLIPS)  # every clip counted once


def test_summary_surfaces_clips_a_stage_lost(run):
    report(run)
    summary = (run / "report" / "summary.md").read_text()
    assert "8 clips: 3 ok, 4 skipped, 1 missing" in summary
    assert f"rgb shard 000: {LOST_IN_RGB} (missing from rgb)" in summary
    assert re.search(r"\|\s*tracks\s*\|\s*face in only N% of frames\s*\|\s*2\s*\|", summary)


def test_clean_run_reports_no_problem(run, tmp_path):
    with ShardWriter(run / "shards" / "rgb" / "000.h5", "rgb") as writer:  # redo rgb 000 without losing a clip
        for cid in ("spk1/00001", ODD, LOST_IN_RGB):
            writer.add(cid, rgb_frames(CLIPS[cid][3]))
    table = report(run)
    assert table.loc[LOST_IN_RGB, "status"] == "ok"
    assert "None: every stage accounts for every clip" in (run / "report" / "summary.md").read_text()


def test_stray_records_are_surfaced(run):
    with ShardWriter(run / "shards" / "mel" / "000.h5", "mel") as writer:
        for cid in ("spk1/00001", ODD, LOST_IN_RGB, "spk9/ghost"):  # a clip the manifest never listed
            writer.add(cid, np.zeros((4, 4), np.float32))
        writer.skip(ODD, "counted twice")
    report(run)
    summary = (run / "report" / "summary.md").read_text()
    assert "mel shard 000: spk9/ghost (not sent to this shard by the manifest)" in summary
    assert f"mel shard 000: {ODD} (accounted for twice)" in summary
    assert "3 clip records do not add up" in summary  # with the clip rgb lost


def test_a_missing_shard_file_stops_the_report(run):
    (run / "shards" / "mel" / "001.h5").unlink()
    with pytest.raises(FileNotFoundError, match="mel"):
        report(run)
    assert not (run / "report" / "summary.md").exists()


def test_contact_sheets_show_evenly_spaced_crops(run):
    table = report(run)
    sheets = table["contact_sheet"]
    assert sorted(cid for cid, path in sheets.items() if path) == sorted(["spk1/00001", "spk1 00001", ODD,
                                                                          "spk3/00005"])
    h, w = 2 * CROP[0], 2 * CROP[1]  # tiles are enlarged twice
    sheet = cv2.imread(str(run / "report" / sheets["spk1/00001"]))
    assert sheet.shape == (4 * h, 4 * w, 3)  # 16 of 40 frames, 4 × 4
    shown = [tuple(sheet[r * h + h - 3, c * w + w - 3][::-1]) for r in range(4) for c in range(4)]
    assert shown == [colour(t) for t in pick_frames(40, 16)]
    assert list(pick_frames(40, 16))[:3] == [0, 3, 5] and pick_frames(40, 16)[-1] == 39

    short = cv2.imread(str(run / "report" / sheets[ODD]))
    assert short.shape == (2 * h, 4 * w, 3)  # 5 frames: every one, on two rows
    assert tuple(short[2 * h - 3, 4 * w - 3]) == (0, 0, 0)  # the unused cells stay black

    overview = cv2.imread(str(run / "report" / "contact_sheet.png"))
    assert overview.shape == (4 * (LABEL_BAND + CROP[0]), 8 * CROP[1], 3)  # 4 clips, 8 crops each


def test_overview_is_capped(run):
    report(run, overview_clips=2)
    overview = cv2.imread(str(run / "report" / "contact_sheet.png"))
    assert overview.shape[0] == 2 * (LABEL_BAND + CROP[0])


def test_sheet_names_are_safe_unique_and_readable(run):
    table = report(run)
    names = [p for p in table["contact_sheet"] if p]
    assert len(set(names)) == len(names) == 4
    for path in names:
        assert re.fullmatch(r"contact_sheets/[A-Za-z0-9][A-Za-z0-9._-]*\.png", path), path
        assert (run / "report" / path).is_file()
    assert table.loc["spk1/00001", "contact_sheet"].startswith("contact_sheets/spk1_00001-")
    assert table.loc["spk1 00001", "contact_sheet"].startswith("contact_sheets/spk1_00001-")
    assert safe_name(ZOE).startswith("spk2_Zoe-")  # accents dropped, other scripts replaced
    assert safe_name(ODD).startswith("spk1_it_s_odd_rm_-rf_echo-")
    assert safe_name(ODD) == safe_name(ODD) and safe_name("a/b") != safe_name("a_b") != safe_name("a b")
    assert len(safe_name("x" * 500)) <= 89


@pytest.mark.parametrize("reason, kind", [
    ("face in only 30% of frames", "face in only N% of frames"),
    ("no face for 14 consecutive frames (more than 12)", "no face for N consecutive frames (more than N)"),
    ("video decoding failed: moov atom not found", "video decoding failed"),
    ("too short: 0.12 s (< 5 frames)", "too short"),
    ("no audio stream", "no audio stream"),
])
def test_reasons_are_counted_by_kind(reason, kind):
    assert reason_kind(reason) == kind


def test_cli_writes_the_report(run):
    from unisync_model.cli import main
    result = CliRunner().invoke(main, ["report", "--manifest", str(run / "clips.parquet"), "--shards-dir",
                                       str(run / "shards"), "--shards", "000,001", "--stages", ",".join(STAGES),
                                       "--out-dir", str(run / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (run / "out").iterdir()) == ["clips.csv", "contact_sheet.png", "contact_sheets",
                                                                "counts.csv", "summary.md"]
    assert len(list((run / "out" / "contact_sheets").iterdir())) == 4
