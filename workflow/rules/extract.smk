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
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("audio"),
    params:
        settings=settings("audio"),
    shell:
        "unisync audio --manifest {input.manifest:q} --shard {wildcards.shard} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule tracks:
    input:
        manifest=f"{RESULTS}/clips.parquet",
    output:
        f"{RESULTS}/shards/tracks/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/tracks/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tracks/{{shard}}.tsv"
    # landmarks: with tracks.speaker sync the stage reads each face's mouth (dlib) to choose the speaker
    conda:
        "../../envs/landmarks.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("tracks"),
    params:
        settings=settings("tracks"),
    shell:
        "unisync tracks --manifest {input.manifest:q} --shard {wildcards.shard} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule rgb:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/rgb/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/rgb/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/rgb/{{shard}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("rgb"),
    params:
        settings=settings("rgb"),
    shell:
        "unisync rgb --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule mel:
    input:
        f"{RESULTS}/shards/audio/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/mel/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/mel/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/mel/{{shard}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("mel"),
    params:
        settings=settings("mel"),
    shell:
        "unisync mel --audio {input:q} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule landmarks:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/landmarks/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/landmarks/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmarks/{{shard}}.tsv"
    conda:
        "../../envs/landmarks.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("landmarks"),
        gpu=int(config["landmarks"]["backend"] == "fan"),  # fan runs on a GPU (SLURM amounts: profiles/slurm)
    params:
        settings=settings("landmarks"),
    shell:
        "unisync landmarks --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule parsing:
    input:
        unpack(representation_inputs("parsing")),
    output:
        f"{RESULTS}/shards/parsing/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/parsing/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/parsing/{{shard}}.tsv"
    conda:
        "../../envs/parsing.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("parsing"),
        gpu=int(config["parsing"]["backend"] == "facexlib"),  # facexlib runs on a GPU (SLURM amounts: profiles/slurm)
    params:
        settings=settings("parsing"),
        landmarks=lambda wildcards, input: (
            f"--landmarks '{input.landmarks}'" if "landmarks" in input.keys() else ""
        ),
    shell:
        "unisync parsing --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " {params.landmarks} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule tdmm:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        tracks=f"{RESULTS}/shards/tracks/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/tdmm/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/tdmm/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tdmm/{{shard}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("tdmm"),
    params:
        settings=settings("tdmm"),
    shell:
        "unisync tdmm --manifest {input.manifest:q} --shard {wildcards.shard} --tracks {input.tracks:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule hubert:
    input:
        f"{RESULTS}/shards/audio/{{shard}}.h5",
    output:
        f"{RESULTS}/shards/hubert/{{shard}}.h5",
    log:
        f"{RESULTS}/logs/hubert/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hubert/{{shard}}.tsv"
    conda:
        "../../envs/hubert.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("hubert"),
    params:
        settings=settings("hubert"),
    shell:
        "unisync hubert --audio {input:q} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"
