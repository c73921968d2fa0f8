rule demo_corpus:
    output:
        directory(config["demo"]["root"]),
    log:
        f"{config['results']}/logs/demo_corpus.log",
    benchmark:
        f"{config['results']}/benchmarks/demo_corpus.tsv"
    conda:
        "../../envs/demo.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        speakers=config["demo"]["speakers"],
        clips=config["demo"]["clips_per_speaker"],
        split=",".join(f"{k}={v}" for k, v in config["demo"]["split_speakers"].items()),
        seed=config["demo"]["seed"],
        size=config["demo"]["size"],
        shift_share=config["demo"]["audio_shifts"]["share"],
        shift_frames=",".join(map(str, config["demo"]["audio_shifts"]["frames"])),
    shell:
        "unisync demo-corpus {output:q} --speakers {params.speakers} --clips-per-speaker {params.clips}"
        " --split {params.split} --seed {params.seed} --size {params.size}"
        " --shift-share {params.shift_share} --shift-frames {params.shift_frames} > {log:q} 2>&1"


rule manifest:
    input:
        config["corpus"]["root"],
    output:
        clips=f"{RESULTS}/clips.parquet",
        sizes=SHARD_SIZES,
    log:
        f"{RESULTS}/logs/manifest.log",
    benchmark:
        f"{RESULTS}/benchmarks/manifest.tsv"
    conda:
        "../../envs/core.yaml"
    threads: config["threads"]["manifest"]
    resources:
        **MANIFEST_RESOURCES,
    params:
        recipe=config["corpus"]["recipe"],
        shards=len(SHARDS),  # corpus.shards, or what auto made of the listing
        options=settings("corpus", "options"),
    shell:
        "unisync manifest --recipe {params.recipe} --root {input:q} --shards {params.shards}"
        " --options {params.options:q} --threads {threads} --out {output.clips:q}"
        " --sizes-out {output.sizes:q} > {log:q} 2>&1"
