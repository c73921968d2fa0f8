"""profiles/slurm, rendered: a dry run of train_all on the tiny config with the profile, where every job
the scheduler hands out (single or group) is also turned into the sbatch command line that
snakemake-executor-plugin-slurm would submit, by the plugin's own code (get_submit_command and
set_gres_string, its account and partition lookups with nothing configured). No SLURM is needed.

Checked: GPU stages ask for a GPU through resources (--gpus, --cpus-per-gpu) and CPU stages do not,
CPUs are the profile's, memory and wall time the profile's but for the manifest and the per-shard
stages, whose amounts the rules derive from what each job works on (config.yaml's job_sizes): before
the manifest has run, from a shard's planned clips; once its shard_sizes.json is there, from each
shard's own entry, so two shards of different sizes get different amounts. The small per-shard CPU
stages of several shards go out as one group job, and landmarks / parsing ask for a GPU exactly when
their backend needs one."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
import snakemake_executor_plugin_slurm  # noqa: F401  rendered below; a dependency (pyproject.toml)
import yaml
from helpers import ROOT, venv_env
from helpers.workflow_config import TINY, merged

from unisync_model.corpora import planning
from unisync_model.corpora.manifest import shard_names

PROFILE_DIR = ROOT / "profiles" / "slurm"
PROFILE = yaml.safe_load((PROFILE_DIR / "config.yaml").read_text())
CONFIG = merged(yaml.safe_load((ROOT / "config.yaml").read_text()), TINY)
# rules whose memory and time the workflow derives from the job's data (config.yaml's job_sizes)
SIZED_BY_SHARD = set(CONFIG["job_sizes"]["shard_rules"])
SIZED = SIZED_BY_SHARD | {"manifest"}

# Run inside a fresh interpreter: snakemake's CLI with the dry-run executor's run_job wrapped, so each
# job it would run is also rendered as the plugin's sbatch call and written as a JSON line to $SBATCH_LOG.
RENDER = r"""
import json, os, sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.executors import dryrun
from snakemake.logging import logger
from snakemake.resources import GroupResources
from snakemake_executor_plugin_slurm import Executor
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import get_job_wildcards, set_gres_string
from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

# what Executor.get_account_arg / get_partition_arg look at when no account or partition is known
nothing_known = SimpleNamespace(_fallback_account_arg="", _partitions=None, _fallback_partition="",
                                logger=logger)
dry_run_job = dryrun.Executor.run_job


def run_job(self, job):
    if not job.is_group() and (job.rule.norun or job.rule.name in self.workflow._localrules):
        return dry_run_job(self, job)  # the main snakemake process runs these itself, unsubmitted
    if job.is_group():
        # a group's resources as the main process of a real SLURM run sums them up (run_local=False:
        # the largest step's width, the steps' runtimes added), not as the dry run's local view does
        job._resources = GroupResources.basic_layered(toposorted_jobs=job.toposorted,
                                                      constraints=job.global_resources, run_local=False,
                                                      additive_resources=["runtime"], sortby=["runtime"])
    validate_slurm_extra(job)
    group_or_rule = f"group_{job.name}" if job.is_group() else f"rule_{job.name}"
    wildcards = get_job_wildcards(job)
    params = {"run_uuid": "RUN", "slurm_logfile": Path(".snakemake/slurm_logs") / group_or_rule / wildcards / "%j.log",
              "comment_str": f"rule_{job.name}" + (f"_wildcards_{wildcards}" if wildcards else ""),
              "account": next(Executor.get_account_arg(nothing_known, job)),
              "partition": Executor.get_partition_arg(nothing_known, job), "workdir": self.workflow.workdir_init}
    call = get_submit_command(job, params) + set_gres_string(job)
    jobs = list(job.jobs) if job.is_group() else [job]
    with open(os.environ["SBATCH_LOG"], "a") as log:
        log.write(json.dumps({"group": job.groupid if job.is_group() else None,
                              "rules": [j.rule.name for j in jobs],
                              "shards": sorted({j.wildcards_dict.get("shard") for j in jobs} - {None}),
                              "call": call}) + "\n")
    dry_run_job(self, job)


dryrun.Executor.run_job = run_job
from snakemake.cli import main
main(sys.argv[1:])
"""


def render(tmp_path, config_override: dict | None = None, writes_nothing: bool = True) -> list[dict]:
    """The sbatch submissions of a dry run of train_all with profiles/slurm on the tiny config."""
    config = merged(CONFIG, config_override or {})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    log = tmp_path / "sbatch.jsonl"
    log.unlink(missing_ok=True)
    # --cores only lifts the dry run's default of one core, which would cap the threads the profile sets
    result = subprocess.run([sys.executable, "-c", RENDER, "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "config.yaml"), "--profile", str(PROFILE_DIR),
                             "--dry-run", "--cores", "256", "train_all"],
                            capture_output=True, text=True, env=dict(venv_env(), SBATCH_LOG=str(log)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not writes_nothing or not (tmp_path / "results").exists()
    return [json.loads(line) for line in log.read_text().splitlines()]


def planned_amounts(rule: str, config: dict = CONFIG) -> tuple[int, int]:
    """(mem_mb, runtime) of a sized rule's job before the manifest has run, on the tiny config, whose
    demo corpus is not there to list at planning: clips_per_shard clips a shard at the guessed frames."""
    shards = config["corpus"]["shards"]
    if rule == "manifest":
        clips = shards * config["corpus"]["clips_per_shard"]
        coefficients = config["job_sizes"]["manifest"]
        return planning.corpus_job_mem_mb(clips, coefficients), planning.corpus_job_runtime(clips, coefficients)
    guess = {"clips_per_shard": config["corpus"]["clips_per_shard"],
             "frames_per_clip": config["job_sizes"]["frames_per_clip"],
             "longest_clip_frames": config["job_sizes"]["longest_clip_frames"]}
    size = planning.planned_size(planning.CorpusPlan(shard_names(shards), None), "000", guess)
    coefficients = config["job_sizes"]["shard_rules"][rule]
    return planning.shard_job_mem_mb(size, coefficients), planning.shard_job_runtime(size, coefficients)


def amounts(rule: str) -> tuple[int, int]:
    """The (mem_mb, runtime) a job of `rule` should go out with on the tiny config's dry run."""
    if rule in SIZED:
        return planned_amounts(rule)
    return PROFILE["set-resources"][rule]["mem_mb"], PROFILE["set-resources"][rule]["runtime"]


def sbatch_args(call: str) -> dict[str, str | None]:
    """The options of an sbatch call ('--mem 4000', '-t 60', '--gpus=1' → {'--mem': '4000', …})."""
    words = shlex.split(call)
    assert words[0] == "sbatch"
    args: dict[str, str | None] = {}
    i = 1
    while i < len(words):
        word = words[i]
        assert word.startswith("-"), (word, call)
        if "=" in word:
            key, value = word.split("=", 1)
            args[key] = value
            i += 1
        elif word in ("--parsable",):
            args[word] = None
            i += 1
        else:
            args[word] = words[i + 1]
            i += 2
    return args


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> list[dict]:
    return render(tmp_path_factory.mktemp("slurm"))


def single(submissions, rule) -> list[dict[str, str | None]]:
    found = [sbatch_args(s["call"]) for s in submissions if s["rules"] == [rule] and s["group"] is None]
    assert found, f"no single {rule} job"
    return found


def test_every_job_is_submitted_once(submissions):
    counts: dict[str, int] = {}
    for s in submissions:
        for rule in s["rules"]:
            counts[rule] = counts.get(rule, 0) + 1
    # train_all has no command: snakemake finishes it itself, nothing is submitted for it
    assert "train_all" not in counts
    assert counts == {"demo_corpus": 1, "manifest": 1, "audio": 2, "tracks": 2, "rgb": 2, "parsing": 2,
                      "landmarks": 2, "tdmm": 2, "mel": 2, "hubert": 2, "train": 8, "evaluate": 8, "table": 1,
                      "report": 1, "training_curves": 8, "job_benchmarks": 1}


@pytest.mark.parametrize("rule", ["tdmm", "hubert", "train"])
def test_gpu_stages_ask_for_a_gpu_through_resources(submissions, rule):
    wanted = PROFILE["set-resources"][rule]
    for args in single(submissions, rule):
        assert args["--gpus"] == "1"
        assert args["--cpus-per-gpu"] == str(wanted["cpus_per_gpu"])
        assert "--cpus-per-task" not in args and "--ntasks" not in args and "--gres" not in args
        assert (int(args["--mem"]), int(args["-t"])) == amounts(rule)


@pytest.mark.parametrize("rule", ["manifest", "evaluate", "table", "report", "demo_corpus"])
def test_cpu_stages_ask_for_cpus_memory_and_time_only(submissions, rule):
    wanted = PROFILE["set-resources"][rule]
    for args in single(submissions, rule):
        assert not {"--gpus", "--gres", "--cpus-per-gpu"} & set(args), args
        assert args["--cpus-per-task"] == str(wanted["cpus_per_task"]) and args["--ntasks"] == "1"
        assert (int(args["--mem"]), int(args["-t"])) == amounts(rule)


def test_gpu_stages_with_cpu_backends_ask_for_no_gpu(submissions):
    # config.yaml's defaults: landmarks by dlib, parsing from the landmarks, both on the CPU
    for rule in ("landmarks", "parsing"):
        for args in single(submissions, rule):
            assert not {"--gpus", "--gres", "--cpus-per-gpu"} & set(args), (rule, args)
            assert args["--cpus-per-task"] == "1"  # config.yaml's threads.extract
            assert (int(args["--mem"]), int(args["-t"])) == amounts(rule)


def test_gpu_backends_of_landmarks_and_parsing_ask_for_a_gpu(tmp_path):
    submissions = render(tmp_path, {"landmarks": {"backend": "fan"}, "parsing": {"backend": "facexlib"}})
    for rule in ("landmarks", "parsing"):
        for args in single(submissions, rule):
            assert args["--gpus"] == "1", (rule, args)
            assert args["--cpus-per-gpu"] == str(PROFILE["set-resources"][rule]["cpus_per_gpu"])
            assert "--cpus-per-task" not in args


def test_small_extraction_jobs_of_several_shards_go_out_as_one_group_job(submissions):
    res = PROFILE["set-resources"]
    groups = {s["group"]: s for s in submissions if s["group"] is not None}
    assert set(groups) == {"extract_audio", "extract_video"}
    assert not [s for s in submissions if s["group"] is None and {"audio", "mel", "tracks", "rgb"} & set(s["rules"])]
    # both shards' audio → mel in one job: the two audio jobs side by side, then the two mel jobs
    audio = groups["extract_audio"]
    assert sorted(audio["rules"]) == ["audio", "audio", "mel", "mel"] and audio["shards"] == ["000", "001"]
    args = sbatch_args(audio["call"])
    assert args["--cpus-per-task"] == str(2 * max(res["audio"]["cpus_per_task"], res["mel"]["cpus_per_task"]))
    assert args["--mem"] == str(2 * max(amounts("audio")[0], amounts("mel")[0]))
    assert args["-t"] == str(amounts("audio")[1] + amounts("mel")[1])
    assert not {"--gpus", "--gres", "--cpus-per-gpu"} & set(args)
    video = groups["extract_video"]
    assert sorted(video["rules"]) == ["rgb", "rgb", "tracks", "tracks"] and video["shards"] == ["000", "001"]
    args = sbatch_args(video["call"])
    assert args["--cpus-per-task"] == str(2 * max(res["tracks"]["cpus_per_task"], res["rgb"]["cpus_per_task"]))
    assert args["--mem"] == str(2 * max(amounts("tracks")[0], amounts("rgb")[0]))
    assert args["-t"] == str(amounts("tracks")[1] + amounts("rgb")[1])


def test_every_rule_has_its_amounts_in_the_profile(tmp_path):
    """A rule added without its line here would go out with default-resources only: a test fails instead."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(merged(yaml.safe_load((ROOT / "config.yaml").read_text()),
                                                                TINY)))
    out = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                          str(tmp_path / "config.yaml"), "--list-rules"],
                         capture_output=True, text=True, env=venv_env())
    assert out.returncode == 0, out.stderr[-3000:]
    rules = set(out.stdout.split()) - {"train_all", "score_all"}  # targets without a command: never submitted
    assert {"train", "tracks", "ablation_table"} <= rules
    assert set(PROFILE["set-resources"]) == rules
    assert set(PROFILE["set-threads"]) <= rules and set(PROFILE["groups"]) <= rules
    assert SIZED <= rules
    for rule, values in PROFILE["set-resources"].items():
        if rule in SIZED:  # a value here would override the rule's own, derived from the job's data
            assert not {"mem_mb", "runtime"} & set(values), rule
        else:
            assert {"mem_mb", "runtime"} <= set(values), rule
        assert ("cpus_per_gpu" in values) != ("cpus_per_task" in values), rule  # cpus_per_task would win


def test_profile_runs_unattended():
    assert PROFILE["executor"] == "slurm" and PROFILE["jobs"] >= 10 and PROFILE["latency-wait"] >= 30
    assert PROFILE["retries"] >= 1 and PROFILE["rerun-incomplete"] and PROFILE["keep-going"]
    # no GPU (or anything else) smuggled past the resources as raw sbatch flags
    assert not [r for r, values in PROFILE["set-resources"].items() if "slurm_extra" in values]


def test_each_shards_jobs_are_sized_from_that_shards_contents(tmp_path):
    """Once the manifest has written shard_sizes.json, every per-shard job's --mem and -t come from its
    own shard's entry: a shard of short clips and one holding a long clip get different amounts, each
    what config.yaml's job_sizes make of it, neither the other's nor the largest's."""
    sizes = {"000": {"clips": 40, "frames": 4_000, "longest": 150},
             "001": {"clips": 900, "frames": 180_000, "longest": 6_000}}
    results = tmp_path / "results" / CONFIG["corpus"]["name"]
    results.mkdir(parents=True)
    (results / "shard_sizes.json").write_text(json.dumps(sizes))
    submissions = render(tmp_path, writes_nothing=False)
    for rule in ("landmarks", "parsing", "tdmm", "hubert"):
        coefficients = CONFIG["job_sizes"]["shard_rules"][rule]
        by_shard = {s["shards"][0]: sbatch_args(s["call"]) for s in submissions
                    if s["rules"] == [rule] and s["group"] is None}
        assert set(by_shard) == set(sizes), (rule, by_shard)
        for shard, args in by_shard.items():
            wanted = (planning.shard_job_mem_mb(sizes[shard], coefficients),
                      planning.shard_job_runtime(sizes[shard], coefficients))
            assert (int(args["--mem"]), int(args["-t"])) == wanted, (rule, shard)
        assert int(by_shard["000"]["--mem"]) < int(by_shard["001"]["--mem"]), rule
        assert int(by_shard["000"]["-t"]) < int(by_shard["001"]["-t"]), rule
    # the grouped stages too: both shards' tracks side by side, then both rgb jobs
    video = next(s for s in submissions if s["group"] == "extract_video")
    args = sbatch_args(video["call"])
    tracks, rgb = (CONFIG["job_sizes"]["shard_rules"][r] for r in ("tracks", "rgb"))
    mem = {r: sum(planning.shard_job_mem_mb(size, c) for size in sizes.values()) for r, c in
           (("tracks", tracks), ("rgb", rgb))}
    assert int(args["--mem"]) == max(mem.values())
    assert int(args["-t"]) == (max(planning.shard_job_runtime(size, tracks) for size in sizes.values())
                               + max(planning.shard_job_runtime(size, rgb) for size in sizes.values()))
