# UniSync workflow: corpus → manifest → per-shard extraction → training and evaluation → results table.
# The logic lives in the `unisync_model` package; every rule calls its command line (UNISYNC in
# workflow/rules/common.smk: the interpreter running Snakemake, or with --use-conda the rule's envs/).
from snakemake.utils import min_version

# subpath(), the `software-env` rerun trigger and --sdm as these rules and profiles/ use them
min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/resync.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/shift_study.smk"
include: "workflow/rules/syncloss.smk"


rule train_all:
    default_target: True
    input:
        f"{RESULTS}/table.md",
        f"{RESULTS}/table.csv",
        f"{RESULTS}/report",
        [f"{RESULTS}/models/{a}_{v}/training_curves.png" for a, v in COMBINATIONS],
        f"{RESULTS}/benchmarks.csv",
