"""The `unisync` command's manners, as a user meets them: --version, -q / -v before or after the
subcommand, --settings as JSON or a file, and `unisync score`'s stdout lines and exit status on
inputs that need no face detector (missing paths, dangling symlinks, empty files)."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import ROOT, venv_env

from unisync_model.cli import main
from unisync_model.scoring.inputs import expand_inputs


def unisync(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unisync_model", *args], env=venv_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_version_names_the_distribution_and_its_version():
    for flag in ("--version", "-V"):
        run = CliRunner().invoke(main, [flag])
        assert run.exit_code == 0
        assert run.output.startswith(f"unisync {version('unisync-lipsync')} (unisync-lipsync, Python ")


def test_settings_take_a_json_object_or_a_file(tmp_path):
    from unisync_model.cli import _settings_text
    settings = tmp_path / "score.json"
    settings.write_text('{"silence_dbfs": -20}')
    assert json.loads(_settings_text(None, None, str(settings))) == {"silence_dbfs": -20}
    assert json.loads(_settings_text(None, None, '{"batch_size": 8}')) == {"batch_size": 8}
    long = json.dumps({f"key_{k}": "x" * 20 for k in range(40)})  # longer than a file name may be
    assert json.loads(_settings_text(None, None, long))["key_39"] == "x" * 20
    for bad, message in ((str(tmp_path / "none.json"), "neither a JSON object nor a readable file"),
                         ("[1, 2]", "must be a JSON object"), ('{"a": ', "not valid JSON")):
        run = CliRunner().invoke(main, ["score", "x.mp4", "--out-dir", str(tmp_path / "o"), "--settings", bad])
        assert run.exit_code == 2 and message in run.output, run.output
    (tmp_path / "list.json").write_text("[1]")
    run = CliRunner().invoke(main, ["score", "x.mp4", "--out-dir", str(tmp_path / "o"), "--settings",
                                    str(tmp_path / "list.json")])
    assert run.exit_code == 2 and "must be a JSON object" in run.output


def test_folder_entries_that_cannot_be_read_are_reported_not_skipped(tmp_path, monkeypatch):
    videos = tmp_path / "videos"
    (videos / "locked").mkdir(parents=True)
    (videos / "a.mp4").write_bytes(b"x")
    (videos / "b.mp4").symlink_to(tmp_path / "gone.mp4")  # dangling
    (videos / "notes.txt").write_text("not a video")
    real_scandir = __import__("os").scandir

    def scandir(path="."):  # as root every folder is readable: make one that is not
        if Path(path) == videos / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("os.scandir", scandir)
    items = {i.clip_id: i for i in expand_inputs([videos])}
    assert set(items) == {"a", "b", "locked"}
    assert items["a"].reason is None
    assert items["b"].reason == f"dangling symlink (to {tmp_path / 'gone.mp4'})" and not items["b"].missing
    assert items["locked"].reason == "unreadable folder: Permission denied"


def test_score_prints_a_line_per_video_and_exits_non_zero_for_a_missing_path(tmp_path):
    """A missing path and an empty file: a row and a stdout line each, the summary, exit 1."""
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    out = tmp_path / "out"
    run = unisync("score", str(tmp_path / "empty.mp4"), str(tmp_path / "missing.mp4"), str(tmp_path / "dangling.mp4"),
                  "--out-dir", str(out), "-q")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines == [f"{tmp_path / 'empty.mp4'}\tno score: unreadable: empty file\tscorer: training-free",
                     f"{tmp_path / 'missing.mp4'}\tno score: file missing\tscorer: training-free",
                     f"{tmp_path / 'dangling.mp4'}\tno score: dangling symlink (to {tmp_path / 'nowhere.mp4'})"
                     "\tscorer: training-free",
                     f"scored 0 of 3 videos (unreadable × 1, file missing × 1, dangling symlink × 1); outputs in {out}"]
    assert "2 path(s) given do not exist" in run.stderr and str(tmp_path / "missing.mp4") in run.stderr
    assert " INFO " not in run.stderr and "video/s" not in run.stderr  # -q after the subcommand: no log, no bar
    videos = pd.read_csv(out / "videos.csv", keep_default_na=False)
    assert videos["reason"].tolist() == ["unreadable: empty file", "file missing",
                                         f"dangling symlink (to {tmp_path / 'nowhere.mp4'})"]
    columns = json.loads((out / "scores.json").read_text())["columns"]
    assert columns["min_dist"].startswith("training-free: 0 to 2") and "0 to 2" in columns["confidence"]


def test_score_exits_non_zero_when_nothing_is_scored_and_logs_by_default(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    run = unisync("-v", "score", str(tmp_path / "empty.mp4"), "--out-dir", str(tmp_path / "out"))
    assert run.returncode == 1 and "no video could be scored" in run.stderr
    assert " INFO " in run.stderr  # without -q the logs are there
    run = unisync("score", str(tmp_path / "out"), "--out-dir", str(tmp_path / "out2"))  # a folder without videos
    assert run.returncode == 1 and "no video found" in run.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_and_verbose_anywhere_set_the_log_level(where):
    import logging
    seen = {}

    @main.command("probe-level", hidden=True)
    def probe_level():
        seen["level"] = logging.getLogger().getEffectiveLevel()

    try:
        for flag, level in (("-q", logging.WARNING), ("-v", logging.DEBUG)):
            args = [flag, "probe-level"] if where == "before" else ["probe-level", flag]
            run = CliRunner().invoke(main, args)
            assert run.exit_code == 0, run.output
            assert seen.pop("level") == level
    finally:
        main.commands.pop("probe-level")
        logging.getLogger().setLevel(logging.WARNING)


def test_score_with_the_syncnet_scorer(tmp_path, yunet_weights):
    """`unisync score --scorer syncnet`: syncnet_python's network (random weights of the real
    architecture, stored as the official file is) on a real clip, its scale said in scores.json."""
    from test_syncnet import random_syncnet, save_like_the_official_file
    clip = ROOT / "tests" / "data" / "clips" / "vox_pcavs_Audio_Source_00086.mp4"
    save_like_the_official_file(random_syncnet(), tmp_path / "syncnet_v2.model")
    out = tmp_path / "out"
    # random weights put the minimum where they will: no probe beyond ±15, so the answer stands
    run = unisync("score", str(clip), "--scorer", "syncnet", "--model", str(tmp_path / "syncnet_v2.model"),
                  "--out-dir", str(out), "--no-plots", "-q", "--settings", '{"probe_offset": 0}')
    assert run.returncode == 0, run.stderr[-3000:]
    line, summary = run.stdout.splitlines()
    assert line.startswith(f"{clip}\tAV offset: ") and line.endswith("\tscorer: syncnet")
    assert summary == f"scored 1 of 1 videos; outputs in {out}"
    videos = pd.read_csv(out / "videos.csv")
    assert videos.loc[0, "scorer"] == "syncnet" and videos.loc[0, "status"] == "ok"
    assert -15 <= videos.loc[0, "offset_frames"] <= 15 and videos.loc[0, "windows"] > 0
    record = json.loads((out / "scores.json").read_text())
    assert record["scorer"] == "syncnet" and record["description"].startswith("SyncNet (syncnet_v2.model")
    assert record["columns"]["min_dist"].startswith("syncnet: SyncNet's Euclidean distance")
