# Paper Table V: `snakemake --cores 8 ablation_table` trains the variants of config.yaml's `ablation`
# section (cross-speaker share, margins) for each audio representation and writes one table.


rule train_variant:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        shards=combination_shards,
        resync=training_resync,
    output:
        model=f"{RESULTS}/ablation/{{audio}}_{{visual}}_{{variant}}/seed{{seed}}/model.pt",
        log_csv=f"{RESULTS}/ablation/{{audio}}_{{visual}}_{{variant}}/seed{{seed}}/training.csv",
    log:
        f"{RESULTS}/logs/ablation/train_{{audio}}_{{visual}}_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ablation/train_{{audio}}_{{visual}}_{{variant}}_seed{{seed}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=config["gpus"],
    params:
        settings=variant_train_settings,
        shards=",".join(SHARDS),
        shards_dir=f"{RESULTS}/shards",
        out_dir=subpath(output.model, parent=True),
        resync=resync_option,
    shell:
        "unisync_train --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
        " --audio {wildcards.audio} --visual {wildcards.visual} --out-dir {params.out_dir:q}"
        " --settings {params.settings:q} --seed {wildcards.seed} --threads {threads} {params.resync}"
        " > {log:q} 2>&1"


rule evaluate_variant:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        model=f"{RESULTS}/ablation/{{audio}}_{{visual}}_{{variant}}/seed{{seed}}/model.pt",
        shards=combination_shards,
    output:
        f"{RESULTS}/ablation/{{audio}}_{{visual}}_{{variant}}/seed{{seed}}/metrics_binary.json",
    log:
        f"{RESULTS}/logs/ablation/evaluate_{{audio}}_{{visual}}_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ablation/evaluate_{{audio}}_{{visual}}_{{variant}}_seed{{seed}}.tsv"
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
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule ablation_table:
    input:
        ablation_metrics(),
    output:
        md=report(
            f"{RESULTS}/ablation_table.md",
            caption="../report/ablation_table.rst",
            category="Results",
        ),
        csv=report(
            f"{RESULTS}/ablation_table.csv",
            caption="../report/ablation_table.rst",
            category="Results",
        ),
    log:
        f"{RESULTS}/logs/ablation_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/ablation_table.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=ablation_spec(),
        corpus=CORPUS,
        visual=config["ablation"]["visual"],
    shell:
        "unisync ablation-table --spec {params.spec:q} --corpus {params.corpus} --visual {params.visual}"
        " --md {output.md:q} --csv {output.csv:q} > {log:q} 2>&1"
