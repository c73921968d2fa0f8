# UniSync workflow: corpus → manifest → per-shard extraction → training and evaluation → results table.
# The logic lives in the `unisync_model` package; every rule calls the `unisync` command.

configfile: "config.yaml"
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/shift_study.smk"


rule train_all:
    input:
        f"{RESULTS}/table.md",
        f"{RESULTS}/table.csv",
        f"{RESULTS}/report",
        [f"{RESULTS}/models/{a}_{v}/training_curves.png" for a, v in COMBINATIONS],
        f"{RESULTS}/benchmarks.csv",
    default_target: True
