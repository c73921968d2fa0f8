"""The README's claims about the workflow's configuration, checked on dry runs (`snakemake -n -p`):
margins per audio representation reach each training job; a bad config stops at start with the
schema's message and plans nothing; every overlay under configs/ is valid over config.yaml and plans
its target.

The dry runs take a few seconds each; they all run once per module, two at a time, each in its own
temporary working directory holding a copy of config.yaml (the Snakefile's `configfile:`), with the
overlays given by --configfile as a user gives them. Planning lists the corpus (the recipe's listing,
which `shards: auto` counts; no file is opened) and the manifest rule's input is the corpus root, which
must exist: the corpus overlays get a tiny fake tree of the recipe's layout through a second overlay
that sets corpus.root."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from helpers import ROOT, venv_env
from helpers.workflow_config import TINY_CONFIG, merged

from unisync_model.settings import TrainSettings, from_dict
from unisync_model.training.pairs import CROSS_SPEAKER, POSITIVE, SAME_NO_OVERLAP, SAME_OVERLAP
from unisync_model.training.trainer import margins_by_kind

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
OVERLAYS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def fake_tree(root, recipe):
    """A tiny corpus tree of the recipe's layout (files empty: planning lists them, never opens them)."""
    if recipe == "lrs2":
        (root / "mvlrs_v1" / "main" / "v1").mkdir(parents=True)
        (root / "mvlrs_v1" / "main" / "v1" / "00001.mp4").touch()
        for split in ("train", "val", "test"):
            (root / f"{split}.txt").write_text("v1/00001\n" if split == "train" else "")
    elif recipe == "cncvs":
        (root / "news" / "s1" / "video").mkdir(parents=True)
        (root / "news" / "s1" / "video" / "a.mp4").touch()
    else:
        (root / "spk").mkdir(parents=True)
        (root / "spk" / "a.mp4").touch()
    return root


def target_of(overlay: str) -> list[str]:
    """What the overlay's header comment runs (`snakemake … <target> --configfile …`)."""
    header = "".join(line for line in (ROOT / "configs" / overlay).read_text().splitlines(True)
                     if line.startswith("#"))
    found = re.search(r"snakemake --cores \d+ (\S+)", header)
    assert found, f"configs/{overlay}'s header names no snakemake command"
    return [found.group(1)]


def overlay_run(tmp, overlay: str) -> dict:
    """The dry run an overlay's header comment asks for, with the corpus root (when it is not a file a
    rule makes) replaced by a fake tree, and the shift study's inputs pointed at this checkout."""
    configfiles = [ROOT / "configs" / overlay]
    if overlay == "shift_study_landmarks.yaml":  # "on top of configs/shift_study.yaml"
        configfiles.insert(0, ROOT / "configs" / "shift_study.yaml")
    config = CONFIG
    for path in configfiles:
        config = merged(config, yaml.safe_load(path.read_text()))
    extra: dict = {}
    if "shift_study" in config:  # the corpus is made by the shift_corpus rule from these two folders
        clips = tmp / "clips"
        (clips / "real").mkdir(parents=True)
        extra["shift_study"] = {"clips": str(clips), "lists": str(ROOT / "configs" / "shift_study")}
    elif config["corpus"]["root"] != config["demo"]["root"]:  # the demo corpus is made by a rule
        extra["corpus"] = {"root": str(fake_tree(tmp / "corpus", config["corpus"]["recipe"]))}
    if extra:
        (tmp / "paths.yaml").write_text(yaml.safe_dump(extra))
        configfiles.append(tmp / "paths.yaml")
    return {"config": merged(config, extra), "args": [*target_of(overlay), "--configfile", *map(str, configfiles)]}


def dry_run(workdir, args) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    return subprocess.run([shutil.which("snakemake", path=venv_env()["PATH"]) or "snakemake",
                           "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "-n", "-p", *args],
                          capture_output=True, text=True, env=venv_env(), timeout=300)


def planned_jobs(output: str) -> dict[str, int]:
    stats = output.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


BAD = {  # overlay → what the schema says about it
    "typo_key": ({"train": {"epoch": 3}}, "Additional properties are not allowed ('epoch' was unexpected)"),
    "typo_section": ({"margin": {"mel": {"same_speaker": 0.1, "cross_speaker": 0.3}}},
                     "Additional properties are not allowed ('margin' was unexpected)"),
    "wrong_type": ({"corpus": {"shards": "two"}}, "'two' does not match '^auto$'"),
    "margin_out_of_range": ({"margins": {"mel": {"same_speaker": 0.1, "cross_speaker": 1.5}}},
                            "1.5 is greater than or equal to the maximum of 1"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every dry run of this module, two at a time: name → (CompletedProcess, what it was given)."""
    base = tmp_path_factory.mktemp("claims_workflow")
    jobs = {"tiny": {"config": merged(CONFIG, yaml.safe_load(TINY_CONFIG.read_text())),
                     "args": ["train_all", "--configfile", str(TINY_CONFIG)]}}
    for overlay in OVERLAYS:
        (base / overlay).mkdir()
        jobs[overlay] = overlay_run(base / overlay, overlay)
    for name, (overlay, _) in BAD.items():
        (base / f"{name}.yaml").write_text(yaml.safe_dump(overlay))
        jobs[name] = {"args": ["train_all", "--configfile", str(base / f"{name}.yaml")]}
    with ThreadPoolExecutor(2) as pool:
        done = {name: pool.submit(dry_run, base / f"run_{name}", job["args"]) for name, job in jobs.items()}
        return {name: (future.result(), jobs[name], base / f"run_{name}") for name, future in done.items()}


def shell_commands(output: str, rule: str) -> list[str]:
    """The printed shell command of every planned job of `rule`."""
    return re.findall(rf"^rule {rule}:\n(?:    .*\n)*?Shell command: (.*)$", output, re.M)


def test_each_training_job_gets_the_margins_of_its_audio_representation(runs):
    result, job, _ = runs["tiny"]
    assert result.returncode == 0, result.stderr[-3000:]
    margins = job["config"]["margins"]
    assert margins["mel"] != margins["hubert"]  # otherwise nothing tells them apart
    commands = shell_commands(result.stdout + result.stderr, "train")
    assert len(commands) == len(job["config"]["combinations"]) == 8
    seen = set()
    for command in commands:
        argv = shlex.split(command.split(">")[0])
        audio = argv[argv.index("--audio") + 1]
        sent = json.loads(argv[argv.index("--settings") + 1])
        assert sent["margins"] == margins[audio], (audio, sent["margins"])
        # the command builds TrainSettings from that JSON: each negative kind gets its audio's margin
        by_kind = margins_by_kind(from_dict(TrainSettings, sent)).tolist()
        assert by_kind[POSITIVE] == 0.0
        assert by_kind[SAME_OVERLAP] == by_kind[SAME_NO_OVERLAP] == pytest.approx(margins[audio]["same_speaker"])
        assert by_kind[CROSS_SPEAKER] == pytest.approx(margins[audio]["cross_speaker"])
        seen.add(audio)
    assert seen == {"mel", "hubert"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_config_is_rejected_at_start_with_the_schemas_message(runs, name):
    result, _, workdir = runs[name]
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error validating config file" in output and BAD[name][1] in output, output[-2000:]
    assert "Job stats:" not in output and "Shell command:" not in output  # nothing planned
    assert not (workdir / "results").exists() and not (workdir / "data").exists()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_is_valid_over_config_yaml_and_plans_its_target(runs, overlay):
    result, job, workdir = runs[overlay]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Error validating config file" not in output
    jobs = planned_jobs(output)
    config = job["config"]
    target = job["args"][0]
    shards = config["corpus"]["shards"]
    if shards == "auto":  # the fake tree lists a clip or two: one shard
        assert config["corpus"]["clips_per_shard"] > 2
        shards = 1
    if target == "train_all":
        assert jobs["train_all"] == 1
        assert jobs["train"] == jobs["evaluate"] == len(config["combinations"]) * len(config["seeds"])
        for stage in {stage for c in config["combinations"] for stage in c.values()} | {"audio", "tracks"}:
            assert jobs[stage] == shards, (stage, jobs)
    elif target == "score_all":
        assert jobs["score_all"] == 1 and jobs["score"] == shards and jobs["manifest"] == 1
    else:  # the shift study: its corpus, per fold a manifest, a model and a study, then both tables
        folds = len(config["shift_study"]["folds"])
        assert jobs["shift_corpus"] == 1
        assert jobs["shift_fold_manifest"] == jobs["shift_train"] == folds
        assert jobs[config["shift_study"]["visual"]] == shards
        if target == "shift_study":
            assert jobs["shift_study"] == 1
    assert not (workdir / "results").exists()  # a dry run writes nothing


@pytest.mark.parametrize("overlay, on", [("cncvs.yaml", True), ("demo_resync.yaml", True), ("lrs2.yaml", False)])
def test_resync_runs_where_clips_may_be_out_of_sync_and_training_reads_it(runs, overlay, on):
    """resync.enabled auto: on for CN-CVS, off for LRS2; on, every shard is scored (with the landmarks the
    training-free scorer reads), the decisions merged once, and every training job given them."""
    result, job, _ = runs[overlay]
    output = result.stdout + result.stderr
    jobs = planned_jobs(output)
    train = shell_commands(output, "train")
    assert train
    if on:
        shards = jobs["audio"]
        assert jobs["resync"] == shards == jobs["landmarks"] and jobs["resync_merge"] == 1
        assert all("--resync " in command and "resync/decisions.csv" in command for command in train)
    else:
        assert "resync" not in jobs and not any("--resync" in command for command in train)


def test_every_overlay_is_tested():
    """The overlays this module plans are all of configs/*.yaml, and each header names its target."""
    assert set(OVERLAYS) >= {"table4.yaml", "lrs2.yaml", "cncvs.yaml", "score_folder.yaml"}
    for overlay in OVERLAYS:
        assert target_of(overlay)[0] in {"train_all", "score_all", "shift_study",
                                         "results/shift_study_landmarks/heldout/table.md"}
