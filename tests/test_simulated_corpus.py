"""The simulated corpora (unisync_model/corpora/simulated.py) and planning at size (corpora/planning.py).

A 5,000-clip LRS2 tree of links to the committed test clips goes through the LRS2 recipe, `shards:
auto`, a dry run of train_all and `unisync manifest`: every listed clip gets a row and the shard its
id hashes to, a few clips made broken or missing their reason, the per-shard summary adds up, and the
dry run plans one job per shard and stage. The CN-CVS tree and the sizing arithmetic on their
own, smaller."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from helpers import ROOT, TEST_CLIPS, venv_env

from unisync_model.corpora import cncvs, lrs2, planning
from unisync_model.corpora.manifest import STATUS_OK, shard_names, shard_of
from unisync_model.corpora.simulated import LRS2_SPLITS, simulate_corpus

CLIPS = 5_000
CLIPS_PER_SHARD = 600  # auto: 9 shards


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The committed test clips (copied: hard links need them on the tree's file system)."""
    folder = tmp_path_factory.mktemp("sources")
    for clip in sorted(TEST_CLIPS.glob("*.mp4")):
        shutil.copy(clip, folder / clip.name)
    return folder


@pytest.fixture(scope="module")
def lrs2_tree(tmp_path_factory, sources):
    root = tmp_path_factory.mktemp("lrs2") / "corpus"
    made = simulate_corpus("lrs2", root, CLIPS, sources, seed=1)
    return root, made


def test_the_lrs2_tree_lists_every_clip_once_in_lrs2s_proportions(lrs2_tree, sources):
    root, made = lrs2_tree
    clips = lrs2.list_clips(root, splits=list(LRS2_SPLITS))
    assert len(clips) == CLIPS == sum(made.links.values()) and clips["clip_id"].is_unique
    shares = clips["split"].value_counts(normalize=True)
    for split, count in LRS2_SPLITS.items():
        assert shares[split] == pytest.approx(count / sum(LRS2_SPLITS.values()), abs=0.01), split
    assert (clips["speaker"].value_counts() > 1).any()  # several clips per video id, as in LRS2
    inodes = {os.stat(p).st_ino for p in sources.iterdir()}
    assert {os.stat(p).st_ino for p in clips["path"]} <= inodes  # links, not copies, on one file system
    assert made.links == {"hard link": CLIPS}
    assert " NF" in (root / "test.txt").read_text()  # the recipe must drop the test list's marks
    with pytest.raises(FileExistsError):
        simulate_corpus("lrs2", root, 10, sources)  # never written over an existing tree


def test_the_cncvs_tree_lists_every_clip_with_many_clips_per_speaker(tmp_path, sources):
    simulate_corpus("cncvs", tmp_path / "corpus", 700, sources, seed=2)
    clips = cncvs.list_clips(tmp_path / "corpus")
    assert len(clips) == 700 and clips["clip_id"].is_unique
    assert set(clips["speaker"].str.split("/").str[0]) == {"news", "speech"}
    assert clips.groupby("speaker").size().median() >= 5
    assert (clips["audio_path"] == clips["path"]).all()  # no .wav: the audio is the mp4's


def test_auto_shards_count_the_listing_and_every_clip_has_a_shard(lrs2_tree):
    root, _ = lrs2_tree
    options = {"splits": list(LRS2_SPLITS)}
    plan = planning.plan_corpus("lrs2", root, options, "auto", CLIPS_PER_SHARD)
    assert plan.shards == shard_names(math.ceil(CLIPS / CLIPS_PER_SHARD))
    assert plan.clips == CLIPS and set(plan.listed) == set(plan.shards)
    ids = lrs2.list_clips(root, **options)["clip_id"]
    assert pd.Series([shard_of(c, len(plan.shards)) for c in ids]).value_counts().to_dict() == \
        {s: n for s, n in plan.listed.items() if n}
    assert planning.plan_corpus("lrs2", root, options, 4, CLIPS_PER_SHARD).shards == shard_names(4)
    missing = root.parent / "absent"
    assert planning.plan_corpus("lrs2", missing, options, 3, CLIPS_PER_SHARD).listed is None
    with pytest.raises(ValueError, match="auto"):
        planning.plan_corpus("lrs2", missing, options, "auto", CLIPS_PER_SHARD)


def test_a_jobs_amounts_follow_its_shards_contents():
    rule = {"mem_mb": 1000, "mb_per_frame": 0.5, "runtime": 5, "minutes_per_kframe": 2.0}
    small, large = {"clips": 10, "frames": 1_000, "longest": 100}, {"clips": 10, "frames": 50_000, "longest": 2_000}
    assert planning.shard_job_mem_mb(small, rule) == 1050 and planning.shard_job_mem_mb(large, rule) == 2000
    assert planning.shard_job_mem_mb(large, rule, attempt=2) == 4000  # a retry after running out of memory
    assert planning.shard_job_runtime(small, rule) == 7 and planning.shard_job_runtime(large, rule) == 105


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, lrs2_tree):
    """A working directory whose config lists the simulated tree with shards: auto."""
    root, _ = lrs2_tree
    work = tmp_path_factory.mktemp("work")
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    (work / "corpus.yaml").write_text(yaml.safe_dump({"corpus": {
        "name": "simulated", "recipe": "lrs2", "root": str(root), "shards": "auto",
        "clips_per_shard": CLIPS_PER_SHARD, "options": {"splits": list(LRS2_SPLITS)}}}))
    return work


def test_a_dry_run_plans_each_stage_once_per_auto_shard(workdir):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
                             str(workdir), "-n", "train_all", "--configfile", str(workdir / "corpus.yaml")],
                            capture_output=True, text=True, env=venv_env(), timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^(\w+)\s+(\d+)$", output.split("Job stats:")[1], re.MULTILINE)}
    shards = math.ceil(CLIPS / CLIPS_PER_SHARD)
    for stage in ("audio", "tracks", "rgb", "mel"):
        assert jobs[stage] == shards, (stage, jobs)
    assert jobs["manifest"] == 1 and not (workdir / "results").exists()


def test_the_manifest_gives_every_clip_a_row_a_shard_and_a_status(workdir, lrs2_tree):
    """(Last in this module: it breaks a few of the tree's clips.)"""
    root, _ = lrs2_tree
    shards = math.ceil(CLIPS / CLIPS_PER_SHARD)
    listed = lrs2.list_clips(root, splits=list(LRS2_SPLITS))
    broken, missing = listed["path"].iloc[::1000].tolist(), listed["path"].iloc[500::2000].tolist()
    for path in broken:  # a link replaced by a file that holds no video
        os.unlink(path)
        with open(path, "wb") as file:
            file.write(b"not a video")
    for path in missing:
        os.unlink(path)
    out, sizes_out = workdir / "clips.parquet", workdir / "shard_sizes.json"
    result = subprocess.run([sys.executable, "-m", "unisync_model", "-q", "manifest", "--recipe", "lrs2",
                             "--root", str(root), "--shards", str(shards), "--options",
                             json.dumps({"splits": list(LRS2_SPLITS)}), "--threads", "2", "--out", str(out),
                             "--sizes-out", str(sizes_out)],
                            capture_output=True, text=True, env=venv_env(), timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    clips = pd.read_parquet(out)
    assert len(clips) == CLIPS and sorted(clips["clip_id"]) == sorted(listed["clip_id"])
    assert (clips["shard"] == [shard_of(c, shards) for c in clips["clip_id"]]).all()
    status = clips.set_index("path")["status"]
    assert all(status[p].startswith("skipped: ") and "missing" not in status[p] for p in broken), status[broken]
    assert all(status[p].startswith("skipped: ") and "missing" in status[p] for p in missing), status[missing]
    assert (status.drop(broken + missing) == STATUS_OK).all()
    sizes = json.loads(sizes_out.read_text())
    assert sorted(sizes) == shard_names(shards)
    ok = clips[clips["status"] == STATUS_OK]
    assert sum(s["clips"] for s in sizes.values()) == len(ok)
    assert all(s["frames"] >= s["longest"] > 0 for s in sizes.values() if s["clips"])
