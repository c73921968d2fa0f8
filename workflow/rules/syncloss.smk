# Paper Table VI in miniature (docs/syncloss.md): a talking-mouth generator trained for the same steps
# on the same batches with L1 only and with L1 + SyncLoss from a frozen Mel × RGB UniSync (seed
# syncloss.expert_seed), its test clips judged by another Mel × RGB UniSync (seed syncloss.judge_seed)
# and scored by the training-free scorer:
#
#   snakemake --cores 2 syncloss_table
#
# Both experts come from the `train` rule (models/mel_rgb/seed<N>/model.pt), trained on the training
# speakers only; the generators too; the table is of the test speakers.
# config.yaml has it; a config without it plans no SyncLoss study
if "syncloss" in config:
    SYNCLOSS = config["syncloss"]
    SYNCLOSS_DIR = f"{RESULTS}/syncloss"
    # the generator's settings (SyncLossSettings) as JSON: the section without the experts' seeds
    SYNCLOSS_SETTINGS = json.dumps(
        {k: v for k, v in SYNCLOSS.items() if k not in ("expert_seed", "judge_seed")},
        sort_keys=True,
    )
    SYNCLOSS_SHARDS = expand(
        f"{RESULTS}/shards/{{stage}}/{{shard}}.h5",
        stage=["rgb", "mel", "tracks"],
        shard=SHARDS,
    )

    rule syncloss_train:
        input:
            manifest=f"{RESULTS}/clips.parquet",
            shards=SYNCLOSS_SHARDS,
            expert=f"{RESULTS}/models/mel_rgb/seed{SYNCLOSS['expert_seed']}/model.pt",
        output:
            model=f"{SYNCLOSS_DIR}/{{arm}}/generator.pt",
            log_csv=f"{SYNCLOSS_DIR}/{{arm}}/training.csv",
        log:
            f"{RESULTS}/logs/syncloss/train_{{arm}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/syncloss/train_{{arm}}.tsv"
        wildcard_constraints:
            arm="l1|syncloss",
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=120,
        params:
            settings=SYNCLOSS_SETTINGS,
            shards=",".join(SHARDS),
            shards_dir=lambda wildcards, input: os.path.dirname(
                os.path.dirname(input.shards[0])
            ),
        shell:
            "unisync syncloss-train --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
            " --expert {input.expert:q} --arm {wildcards.arm} --out {output.model:q} --settings {params.settings:q}"
            " --threads {threads} > {log:q} 2>&1"

    rule syncloss_table:
        input:
            manifest=f"{RESULTS}/clips.parquet",
            shards=SYNCLOSS_SHARDS,
            l1=f"{SYNCLOSS_DIR}/l1/generator.pt",
            syncloss=f"{SYNCLOSS_DIR}/syncloss/generator.pt",
            judge=f"{RESULTS}/models/mel_rgb/seed{SYNCLOSS['judge_seed']}/model.pt",
        output:
            md=f"{SYNCLOSS_DIR}/table.md",
            csv=f"{SYNCLOSS_DIR}/table.csv",
            clips=f"{SYNCLOSS_DIR}/clips.csv",
            videos=directory(f"{SYNCLOSS_DIR}/videos"),
            scores=directory(f"{SYNCLOSS_DIR}/training_free"),
        log:
            f"{RESULTS}/logs/syncloss/table.log",
        benchmark:
            f"{RESULTS}/benchmarks/syncloss/table.tsv"
        conda:
            "../../envs/unisync.yaml"  # the training-free scorer's extras (landmarks, speech gate)
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            shards=",".join(SHARDS),
            shards_dir=lambda wildcards, input: os.path.dirname(
                os.path.dirname(input.shards[0])
            ),
            settings=score_settings(),
            out_dir=subpath(output.csv, parent=True),
            title=f"SyncLoss study: {CORPUS} test split, judge Mel × RGB seed {SYNCLOSS['judge_seed']}, "
            f"loss expert seed {SYNCLOSS['expert_seed']}",
        shell:
            "unisync syncloss-study --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
            " --generator l1={input.l1:q} --generator syncloss={input.syncloss:q} --judge {input.judge:q}"
            " --settings {params.settings:q} --title {params.title:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
