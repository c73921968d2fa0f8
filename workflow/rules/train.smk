rule train:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        shards=combination_shards,
        resync=training_resync,
    output:
        model=f"{RESULTS}/models/{{audio}}_{{visual}}/seed{{seed}}/model.pt",
        log_csv=report(
            f"{RESULTS}/models/{{audio}}_{{visual}}/seed{{seed}}/training.csv",
            caption="../report/training.rst",
            category="Training",
            subcategory="{audio} × {visual}",
            labels={"audio": "{audio}", "visual": "{visual}", "seed": "{seed}"},
        ),
    log:
        f"{RESULTS}/logs/train/{{audio}}_{{visual}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{audio}}_{{visual}}_seed{{seed}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=config["gpus"],
    params:
        settings=train_settings,
        shards=",".join(SHARDS),
        shards_dir=f"{RESULTS}/shards",
        out_dir=subpath(output.model, parent=True),
        resync=resync_option,
    shell:
        "unisync_train --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
        " --audio {wildcards.audio} --visual {wildcards.visual} --out-dir {params.out_dir:q}"
        " --settings {params.settings:q} --seed {wildcards.seed} --threads {threads} {params.resync}"
        " > {log:q} 2>&1"


rule evaluate:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        model=f"{RESULTS}/models/{{audio}}_{{visual}}/seed{{seed}}/model.pt",
        shards=combination_shards,
    output:
        binary=f"{RESULTS}/models/{{audio}}_{{visual}}/seed{{seed}}/metrics_binary.json",
        offset=f"{RESULTS}/models/{{audio}}_{{visual}}/seed{{seed}}/metrics_offset.json",
    log:
        f"{RESULTS}/logs/evaluate/{{audio}}_{{visual}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{audio}}_{{visual}}_seed{{seed}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=settings("evaluate"),
        shards=",".join(SHARDS),
        shards_dir=f"{RESULTS}/shards",
    shell:
        "unisync evaluate --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
        " --audio {wildcards.audio} --visual {wildcards.visual} --model {input.model:q}"
        " --settings {params.settings:q} --out {output.binary:q} --offset-out {output.offset:q} > {log:q} 2>&1"


rule table:
    input:
        [
            f"{RESULTS}/models/{a}_{v}/seed{s}/metrics_{p}.json"
            for a, v in COMBINATIONS
            for s in SEEDS
            for p in ("binary", "offset")
        ],
    output:
        md=report(
            f"{RESULTS}/table.md", caption="../report/table.rst", category="Results"
        ),
        csv=report(
            f"{RESULTS}/table.csv", caption="../report/table.rst", category="Results"
        ),
        png=report(
            f"{RESULTS}/table.png", caption="../report/table.rst", category="Results"
        ),
    log:
        f"{RESULTS}/logs/table.log",
    benchmark:
        f"{RESULTS}/benchmarks/table.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        corpus=CORPUS,
    shell:
        "unisync table {input:q} --corpus {params.corpus} --md {output.md:q} --csv {output.csv:q}"
        " --png {output.png:q} > {log:q} 2>&1"


rule training_curves:
    input:
        lambda wildcards: [
            f"{RESULTS}/models/{wildcards.audio}_{wildcards.visual}/seed{s}/training.csv"
            for s in SEEDS
        ],
    output:
        report(
            f"{RESULTS}/models/{{audio}}_{{visual}}/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
            subcategory="{audio} × {visual}",
            labels={"audio": "{audio}", "visual": "{visual}", "seed": "all"},
        ),
    log:
        f"{RESULTS}/logs/training_curves/{{audio}}_{{visual}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training_curves/{{audio}}_{{visual}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "unisync training-curves {input:q} --title '{wildcards.audio} × {wildcards.visual}' --png {output:q}"
        " > {log:q} 2>&1"
