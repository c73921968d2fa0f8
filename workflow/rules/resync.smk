# Training data put in sync before the expert learns from it (config.yaml's `resync`; on by default
# unless the recipe's clips are known in sync): every train / val face segment of a shard is scored
# from the extraction shards (the training-free scorer by default), then kept, shifted or dropped
# (scoring/resync.py). Training reads decisions.csv: nothing is re-encoded.
#
#   results/<corpus>/resync/decisions.csv   a row per face segment: decision, audio_shift, offset, confidence, reason
#   results/<corpus>/resync/offsets.png     the offsets found, by decision
rule resync:
    input:
        unpack(resync_inputs),
    output:
        f"{RESULTS}/resync/shards/{{shard}}.csv",
    log:
        f"{RESULTS}/logs/resync/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/resync/{{shard}}.tsv"
    conda:
        "../../envs/unisync.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("resync"),
        gpu=int(RESYNC["scorer"] in ("unisync", "syncnet")),
    params:
        scorer=RESYNC["scorer"],
        model=f"--model {shlex.quote(RESYNC['model'])}" if RESYNC["model"] else "",
        settings=score_settings(),
        resync=resync_settings(),
        shards_dir=lambda wildcards, input: os.path.dirname(
            os.path.dirname(input.shards[0])
        ),
    shell:
        "unisync resync --manifest {input.manifest:q} --shard {wildcards.shard} --shards-dir {params.shards_dir:q}"
        " --scorer {params.scorer} {params.model} --settings {params.settings:q}"
        " --resync-settings {params.resync:q} --out {output:q} > {log:q} 2>&1"


rule resync_merge:
    input:
        expand(f"{RESULTS}/resync/shards/{{shard}}.csv", shard=SHARDS),
    output:
        decisions=RESYNC_DECISIONS,
        histogram=report(
            f"{RESULTS}/resync/offsets.png",
            caption="../report/resync.rst",
            category="Resync",
        ),
    log:
        f"{RESULTS}/logs/resync_merge.log",
    benchmark:
        f"{RESULTS}/benchmarks/resync_merge.tsv"
    conda:
        "../../envs/unisync.yaml"  # the resync jobs' env (scoring/resync.py sits among the scorers)
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "unisync resync-merge {input:q} --out {output.decisions:q} --histogram {output.histogram:q} > {log:q} 2>&1"
