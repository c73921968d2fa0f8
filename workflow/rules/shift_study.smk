# The audio-shift study (docs/shift_study.md), only with configs/shift_study.yaml's `shift_study` section:
#
#   snakemake --cores 2 shift_study --configfile configs/shift_study.yaml
#
# shift_corpus links the shared clips and the fold lists into the corpus folder; the usual manifest and
# extraction rules run once over every clip (all.csv); per fold, a manifest of the same clips with that
# fold's splits (fold<N>.csv: test = the fold, train / val = clips of the other fold and muxed clips) trains
# a model on shards it shares with the others; `unisync shift-study` then scores the fold's clips with it,
# and the training-free scorer scores every real clip.
if "shift_study" in config:
    SHIFT = config["shift_study"]
    SHIFT_CORPUS = config["corpus"]["root"]
    SHIFT_COMBINATION = f"{SHIFT['audio']}_{SHIFT['visual']}"
    SHIFT_NOTES = os.path.join(
        SHIFT_CORPUS, "clips", "manifest.csv"
    )  # the clip manifest, through the corpus's link
    SHIFT_ARGS = (
        f"--shifts={','.join(str(k) for k in SHIFT['shifts'])} --seconds {SHIFT['seconds']}"
        f" --clip-notes {shlex.quote(SHIFT_NOTES)}"
    )

    rule shift_corpus:
        input:
            clips=SHIFT["clips"],
            lists=SHIFT["lists"],
        output:
            directory(SHIFT_CORPUS),
        log:
            f"{RESULTS}/logs/shift_corpus.log",
        benchmark:
            f"{RESULTS}/benchmarks/shift_corpus.tsv"
        conda:
            "../../envs/unisync.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        shell:
            '(mkdir -p {output:q} && ln -s "$(realpath {input.clips:q})" {output:q}/clips'
            " && cp {input.lists:q}/*.csv {input.lists:q}/*.txt {output:q}/) > {log:q} 2>&1"

    rule shift_fold_manifest:
        input:
            SHIFT_CORPUS,
        output:
            f"{RESULTS}/fold{{fold}}/clips.parquet",
        log:
            f"{RESULTS}/logs/fold{{fold}}/manifest.log",
        benchmark:
            f"{RESULTS}/benchmarks/fold{{fold}}/manifest.tsv"
        conda:
            "../../envs/unisync.yaml"
        threads: config["threads"]["manifest"]
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            shards=len(SHARDS),  # the main manifest's: the folds share its shards
            options=lambda wildcards: json.dumps(
                {"csv": f"{SHIFT_CORPUS}/fold{wildcards.fold}.csv"}
            ),
        shell:
            "unisync manifest --recipe folder --root {input:q} --shards {params.shards} --options {params.options:q}"
            " --threads {threads} --out {output:q} > {log:q} 2>&1"

    rule shift_train:
        input:
            manifest=f"{RESULTS}/fold{{fold}}/clips.parquet",
            shards=combination_shards,
        output:
            model=f"{RESULTS}/fold{{fold}}/{{audio}}_{{visual}}/model.pt",
            log_csv=report(
                f"{RESULTS}/fold{{fold}}/{{audio}}_{{visual}}/training.csv",
                caption="../report/training.rst",
                category="Shift study",
                subcategory="training, fold {fold}",
                labels={"fold": "{fold}", "model": "{audio} × {visual}"},
            ),
        log:
            f"{RESULTS}/logs/fold{{fold}}/train_{{audio}}_{{visual}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/fold{{fold}}/train_{{audio}}_{{visual}}.tsv"
        wildcard_constraints:
            fold=r"\d+",
        conda:
            "../../envs/unisync.yaml"
        threads: config["threads"]["train"]
        resources:
            mem_mb=8000,
            runtime=6 * 60,
        params:
            settings=train_settings,
            shards=",".join(SHARDS),
            shards_dir=f"{RESULTS}/shards",
            out_dir=subpath(output.model, parent=True),
        shell:
            "unisync train --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
            " --audio {wildcards.audio} --visual {wildcards.visual} --out-dir {params.out_dir:q}"
            " --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"

    rule shift_study_training_free:
        input:
            SHIFT_CORPUS,
        output:
            trials=f"{RESULTS}/training_free/trials.csv",
            table=report(
                f"{RESULTS}/training_free/table.md",
                caption="../report/shift_study.rst",
                category="Shift study",
                labels={"scorer": "training-free", "clips": "all real"},
            ),
        log:
            f"{RESULTS}/logs/shift_study/training_free.log",
        benchmark:
            f"{RESULTS}/benchmarks/shift_study/training_free.tsv"
        conda:
            "../../envs/unisync.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            args=SHIFT_ARGS,
            settings=score_settings(),
            out_dir=subpath(output.trials, parent=True),
        shell:
            "unisync shift-study {input:q}/clips/real --scorer training-free {params.args} --settings {params.settings:q}"
            " --title 'Training-free scorer, every real clip' --out-dir {params.out_dir:q} > {log:q} 2>&1"

    rule shift_study_heldout:
        input:
            corpus=SHIFT_CORPUS,
            model=f"{RESULTS}/fold{{fold}}/{SHIFT_COMBINATION}/model.pt",
        output:
            trials=f"{RESULTS}/heldout{{fold}}/trials.csv",
            table=f"{RESULTS}/heldout{{fold}}/table.md",
        log:
            f"{RESULTS}/logs/shift_study/heldout{{fold}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/shift_study/heldout{{fold}}.tsv"
        conda:
            "../../envs/unisync.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            args=SHIFT_ARGS,
            settings=score_settings(),
            out_dir=subpath(output.trials, parent=True),
            title=lambda wildcards: f"UniSync {SHIFT_COMBINATION}, fold {wildcards.fold} (a model that never saw these clips)",
        shell:
            "unisync shift-study {input.corpus:q}/heldout{wildcards.fold}.txt --scorer unisync --model {input.model:q}"
            " {params.args} --settings {params.settings:q} --title {params.title:q} --out-dir {params.out_dir:q}"
            " > {log:q} 2>&1"

    rule shift_study_heldout_merge:
        input:
            expand(f"{RESULTS}/heldout{{fold}}/trials.csv", fold=SHIFT["folds"]),
        output:
            trials=f"{RESULTS}/heldout/trials.csv",
            table=report(
                f"{RESULTS}/heldout/table.md",
                caption="../report/shift_study.rst",
                category="Shift study",
                labels={"scorer": f"UniSync {SHIFT_COMBINATION}", "clips": "held out"},
            ),
        log:
            f"{RESULTS}/logs/shift_study/heldout_merge.log",
        benchmark:
            f"{RESULTS}/benchmarks/shift_study/heldout_merge.tsv"
        conda:
            "../../envs/unisync.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            merge=lambda wildcards, input: " ".join(
                f"--merge {shlex.quote(path)}" for path in input
            ),
            notes=SHIFT_NOTES,
            title=f"UniSync {SHIFT_COMBINATION} on held-out clips (each fold scored by the model trained on the other)",
            out_dir=subpath(output.trials, parent=True),
        shell:
            "unisync shift-study {params.merge} --clip-notes {params.notes:q} --title {params.title:q}"
            " --out-dir {params.out_dir:q} > {log:q} 2>&1"

    rule shift_study:
        input:
            rules.shift_study_training_free.output,
            rules.shift_study_heldout_merge.output,
