# One job per stage and shard; each visual stage decodes the video again, so any stage can be rerun alone.


rule audio:
    input:
        manifest=f"{RESULTS}/clips.parquet",
    output:
        f"{RESULTS}/shards/audio/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/audio/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/audio/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/core.yaml"
    shell:
        "unisync audio --manifest {input.manifest:q} --shard {wildcards.shard} --out {output:q} > {log:q} 2>&1"


rule tracks:
    input:
        manifest=f"{RESULTS}/clips.parquet",
    output:
        f"{RESULTS}/shards/tracks/{{shard}}.h5",
    params:
        settings=settings("tracks"),
    log:
        f"{RESULTS}/logs/tracks/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tracks/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/core.yaml"
    shell:
        "unisync tracks --manifest {input.manifest:q} --shard {wildcards.shard} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule rgb:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/rgb/{{shard}}.h5",
    params:
        settings=settings("rgb"),
    log:
        f"{RESULTS}/logs/rgb/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/rgb/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/core.yaml"
    shell:
        "unisync rgb --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule mel:
    input:
        f"{RESULTS}/shards/audio/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/mel/{{shard}}.h5",
    params:
        settings=settings("mel"),
    log:
        f"{RESULTS}/logs/mel/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/mel/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/core.yaml"
    shell:
        "unisync mel --audio {input:q} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule landmarks:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/landmarks/{{shard}}.h5",
    params:
        settings=settings("landmarks"),
    log:
        f"{RESULTS}/logs/landmarks/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmarks/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=int(config["landmarks"]["backend"] == "fan"),  # fan runs on a GPU (SLURM amounts: profiles/slurm)
    conda:
        "../../envs/landmarks.yaml"
    shell:
        "unisync landmarks --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule parsing:
    input:
        unpack(parsing_inputs),
    output:
        f"{RESULTS}/shards/parsing/{{shard}}.h5",
    params:
        settings=settings("parsing"),
        landmarks=lambda wildcards, input: f"--landmarks '{input.landmarks}'" if "landmarks" in input.keys() else "",
    log:
        f"{RESULTS}/logs/parsing/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/parsing/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=int(config["parsing"]["backend"] == "facexlib"),  # facexlib runs on a GPU (SLURM amounts: profiles/slurm)
    conda:
        "../../envs/parsing.yaml"
    shell:
        "unisync parsing --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " {params.landmarks} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule tdmm:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/tdmm/{{shard}}.h5",
    params:
        settings=settings("tdmm"),
    log:
        f"{RESULTS}/logs/tdmm/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tdmm/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/core.yaml"
    shell:
        "unisync tdmm --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule hubert:
    input:
        f"{RESULTS}/shards/audio/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/hubert/{{shard}}.h5",
    params:
        settings=settings("hubert"),
    log:
        f"{RESULTS}/logs/hubert/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hubert/{{shard}}.tsv"
    threads: config["threads"]["extract"]
    resources:
        mem_mb=6000,
        runtime=240,
    conda:
        "../../envs/hubert.yaml"
    shell:
        "unisync hubert --audio {input:q} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"
