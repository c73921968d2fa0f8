# Common to every .smk file here: the config's derived values, the jobs' commands, input functions.
import json
import os
import shlex
import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from unisync_model import representations
from unisync_model.evaluation.ablation_table import table_rows, variant_settings
from unisync_model.representations import AUDIO
from unisync_model.settings import from_dict
from unisync_model import corpora
from unisync_model.corpora import planning

validate(config, "../schemas/config.schema.yaml")

CORPUS = config["corpus"]["name"]
RESULTS = f"{config['results']}/{CORPUS}"
# The shards, and how many clips each lists: from the recipe's listing (filelists or a directory walk,
# never a probe), so that `shards: auto` has its number and every job its size at planning.
PLAN = planning.plan_corpus(
    config["corpus"]["recipe"],
    config["corpus"]["root"],
    config["corpus"]["options"],
    config["corpus"]["shards"],
    config["corpus"]["clips_per_shard"],
)
SHARDS = PLAN.shards
# written beside clips.parquet by the manifest job: each shard's clips, frames and longest clip
SHARD_SIZES = f"{RESULTS}/shard_sizes.json"
COMBINATIONS = [(c["audio"], c["visual"]) for c in config["combinations"]]
SEEDS = config["seeds"]

# ---------------------------------------------------------------- the commands of the rules

# Every job's command line calls `unisync …` (training: `unisync_train …`): shell functions that the
# prefix below defines in front of it, which run the package through a Python interpreter, not a
# command looked up on PATH. With --use-conda (--sdm conda) a job runs in its rule's environment
# (envs/*.yaml, the package installed by envs/*.post-deploy.sh), whose `python` comes first on PATH
# once the environment is activated; otherwise jobs run in Snakemake's own environment, through the
# interpreter running Snakemake (so `.venv/bin/snakemake …` works without an activated venv).
# Functions rather than a variable in each rule's shell string: the linter asks for anything else in
# there to be a param, and a param would rerun every job when the interpreter's path changes.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if USE_CONDA else shlex.quote(sys.executable)
UNISYNC = f"{PYTHON} -m unisync_model"
# Training on several GPUs runs through torchrun (DDP); on one GPU or the CPU, plainly.
TRAIN_COMMAND = (
    f"{PYTHON} -m torch.distributed.run --standalone --nproc_per_node {config['gpus']} -m unisync_model train"
    if config["gpus"] > 1
    else f"{UNISYNC} train"
)
# shell.prefix() replaces Snakemake's own prefix, bash's strict mode (kept here), and formats its
# argument like a shell command, hence the doubled braces.
SHELL_FUNCTIONS = (
    f'unisync() {{ {UNISYNC} "$@"; }}; unisync_train() {{ {TRAIN_COMMAND} "$@"; }}; '
)
STRICT_MODE = (
    "set -euo pipefail; "
    if "bash" in os.path.basename(shell.get_executable() or "")
    else ""
)
shell.prefix(STRICT_MODE + SHELL_FUNCTIONS.replace("{", "{{").replace("}", "}}"))

# The post-deploy scripts install the package from the project root (where pyproject.toml is), but
# Snakemake runs them from a copy under .snakemake/conda/ in the working directory and tells them only
# $CONDA_PREFIX. They inherit this process's environment, so the root is passed on through it.
PROJECT_ROOT = workflow.basedir
os.environ.update(UNISYNC_PROJECT_ROOT=PROJECT_ROOT)


wildcard_constraints:
    shard=r"\d\d\d+",
    audio=r"[a-z0-9]+",
    visual=r"[a-z0-9]+",
    seed=r"\d+",
    variant=r"x[0-9.]+_m[0-9.]+-[0-9.]+",


# ---------------------------------------------------------------- each job's memory and time


def shard_resources(rule):
    """A per-shard rule's mem_mb and runtime, as functions of the job: from its shard's entry in the
    manifest's shard_sizes.json (an input of the job, so it is there when the job is submitted:
    Snakemake evaluates resources again then), or, while the manifest is still to run (a dry run),
    from the shard's listed clips at the config's guessed frames per clip."""
    coefficients = config["job_sizes"]["shard_rules"][rule]

    def size(wildcards):
        return planning.shard_size(
            SHARD_SIZES, PLAN, wildcards.shard, guess=PLANNING_GUESS
        )

    return {
        "mem_mb": lambda wildcards, attempt: planning.shard_job_mem_mb(
            size(wildcards), coefficients, attempt
        ),
        "runtime": lambda wildcards: planning.shard_job_runtime(
            size(wildcards), coefficients
        ),
    }


PLANNING_GUESS = {
    "clips_per_shard": config["corpus"]["clips_per_shard"],
    "frames_per_clip": config["job_sizes"]["frames_per_clip"],
    "longest_clip_frames": config["job_sizes"]["longest_clip_frames"],
}
# the manifest reads the whole listing: sized by its clips (clips_per_shard a shard where not listed)
LISTED_CLIPS = (
    PLAN.clips
    if PLAN.clips is not None
    else len(SHARDS) * config["corpus"]["clips_per_shard"]
)
MANIFEST_RESOURCES = {
    "mem_mb": lambda wildcards, attempt: planning.corpus_job_mem_mb(
        LISTED_CLIPS, config["job_sizes"]["manifest"], attempt
    ),
    "runtime": planning.corpus_job_runtime(
        LISTED_CLIPS, config["job_sizes"]["manifest"]
    ),
}


def settings(*keys):
    """A config section as JSON for `unisync … --settings`; as a rule param, changing it reruns the rule."""
    section = config
    for key in keys:
        section = section[key]
    return json.dumps(section, sort_keys=True)


def train_settings(wildcards):
    """The train section as JSON, with the margins of this combination's audio representation
    (the paper's best differ: (0.1, 0.3) with Mel, (0.3, 0.7) with HuBERT)."""
    section = dict(config["train"], margins=config["margins"][wildcards.audio])
    return json.dumps(section, sort_keys=True)


def shard_files(stage):
    return expand(f"{RESULTS}/shards/{stage}/{{shard}}.h5", shard=SHARDS)


def combination_shards(wildcards):
    """What training and evaluation read: both representations, and the tracks for the face segments."""
    return (
        shard_files(wildcards.audio)
        + shard_files(wildcards.visual)
        + shard_files("tracks")
    )


def representation_inputs(name):
    """The inputs of a representation's stage, from the registry: the manifest (visual ones) and the
    shards it reads with this config's settings (parsing reads landmarks only with that backend).
    """
    rep = representations.get(name)
    reads = rep.shards_read(from_dict(rep.settings, config[name]))

    def inputs(wildcards):
        files = (
            {} if rep.modality == AUDIO else {"manifest": f"{RESULTS}/clips.parquet"}
        )
        files.update({s: f"{RESULTS}/shards/{s}/{wildcards.shard}.h5" for s in reads})
        return files

    return inputs


# ---------------------------------------------------------------- paper Table V (ablation.smk)

ABLATION_ROWS = table_rows(
    config["ablation"]["cross_speaker"],
    config["ablation"]["margins"],
    {a: [m["same_speaker"], m["cross_speaker"]] for a, m in config["margins"].items()},
    config["ablation"]["audio"],
)


def variant_train_settings(wildcards):
    return json.dumps(
        variant_settings(config["train"], wildcards.variant), sort_keys=True
    )


def variant_metrics(audio, variant):
    visual = config["ablation"]["visual"]
    return [
        f"{RESULTS}/ablation/{audio}_{visual}_{variant}/seed{s}/metrics_binary.json"
        for s in SEEDS
    ]


def ablation_metrics():
    return sorted(
        {
            f
            for row in ABLATION_ROWS
            for a, v in row["variants"].items()
            for f in variant_metrics(a, v)
        }
    )


def ablation_spec():
    """The rows of Table V and the metrics files of each row's variants, for `unisync ablation-table`."""
    metrics = {
        f"{a}/{v}": variant_metrics(a, v)
        for row in ABLATION_ROWS
        for a, v in row["variants"].items()
    }
    return json.dumps({"rows": ABLATION_ROWS, "metrics": metrics})


# ---------------------------------------------------------------- scoring any videos (score.smk)

SCORE = config["score"]
SCORE_STAGE_SECTIONS = ["tracks", *representations.names()]


def score_model():
    """unisync: the checkpoint (default: this workflow's model of score.audio × score.visual, seed 0,
    trained here if missing); syncnet: the weights given, or '' (syncnet_v2.model, found by the resolver).
    """
    if SCORE["scorer"] == "unisync" and not SCORE["model"]:
        return f"{RESULTS}/models/{SCORE['audio']}_{SCORE['visual']}/seed{SEEDS[0]}/model.pt"
    return SCORE["model"]


def score_stages(section=SCORE):
    """The shards a score (or resync) job reads: audio and tracks always, and what the scorer embeds."""
    extra = {"training-free": ["landmarks"], "syncnet": []}
    if section["scorer"] == "unisync":
        extra["unisync"] = [
            section["visual"],
            section["audio"],
        ]  # planning reads no checkpoint
    return list(dict.fromkeys(["audio", "tracks", *extra[section["scorer"]]]))


def score_inputs(wildcards):
    inputs = {
        "manifest": f"{RESULTS}/clips.parquet",
        "shards": [
            f"{RESULTS}/shards/{stage}/{wildcards.shard}.h5" for stage in score_stages()
        ],
    }
    if SCORE["scorer"] == "unisync":
        inputs["model"] = score_model()
    return inputs


def score_settings():
    """unisync score --settings: the score section's own keys and the stage sections (for anything a
    scorer computes from the video, e.g. a parsing map the shards lack)."""
    section = {
        k: SCORE[k]
        for k in ("silence_dbfs", "audio_stream", "batch_size", "training_free")
    }
    section.update({k: config[k] for k in SCORE_STAGE_SECTIONS if k in config})
    return json.dumps(section, sort_keys=True)


# ---------------------------------------------------------------- resync (workflow/rules/resync.smk)

RESYNC = config["resync"]
RESYNC_ON = corpora.resync_enabled(RESYNC["enabled"], config["corpus"]["recipe"])
RESYNC_DECISIONS = f"{RESULTS}/resync/decisions.csv"


def resync_inputs(wildcards):
    inputs = {
        "manifest": f"{RESULTS}/clips.parquet",
        "shards": [
            f"{RESULTS}/shards/{stage}/{wildcards.shard}.h5"
            for stage in score_stages(RESYNC)
        ],
    }
    if RESYNC["scorer"] == "unisync":
        if not RESYNC["model"]:
            raise ValueError("resync.scorer unisync needs resync.model: a checkpoint")
        inputs["model"] = RESYNC["model"]
    return inputs


def resync_settings():
    """unisync resync --resync-settings: how segments are decided (the scorer's own settings: score_settings)."""
    keys = ("splits", "keep_within", "max_offset", "min_confidence")
    return json.dumps({k: RESYNC[k] for k in keys}, sort_keys=True)


def training_resync(wildcards):
    """A training job's resync decisions (an input when resync is on)."""
    return [RESYNC_DECISIONS] if RESYNC_ON else []


def resync_option(wildcards, input):
    """`--resync decisions.csv` for a training job that has them as an input, else nothing."""
    return f"--resync {shlex.quote(input.resync[0])}" if input.resync else ""
