# Score the sync of every video of a corpus (e.g. a folder of thousands of videos), in parallel per shard,
# reusing the extraction stages: manifest → audio / tracks / landmarks (or the model's representations)
# per shard → a `score` job per shard reading those shards → one merged table.
#
#   snakemake --cores 8 score_all --configfile configs/score_folder.yaml
#
# writes results/<corpus>/score/videos.csv, segments.csv, scores.json (columns: unisync_model/scoring/outputs.py),
# with plots under results/<corpus>/score/shards/<shard>/plots/. Settings: config.yaml's `score` section
# (absent: the training-free scorer with its defaults); the extraction stages keep their own sections.
rule score:
    input:
        unpack(score_inputs),
    output:
        directory(f"{RESULTS}/score/shards/{{shard}}"),
    log:
        f"{RESULTS}/logs/score/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/score/{{shard}}.tsv"
    conda:
        "../../envs/unisync.yaml"
    threads: config["threads"]["extract"]
    resources:
        **shard_resources("score"),
        gpu=int(SCORE["scorer"] in ("unisync", "syncnet")),
    params:
        scorer=SCORE["scorer"],
        model=f"--model {shlex.quote(score_model())}" if score_model() else "",
        settings=score_settings(),
        plots="--plots" if SCORE["plots"] else "--no-plots",
        # <shards_dir>/<stage>/<shard>.h5, taken from the inputs
        shards_dir=lambda wildcards, input: os.path.dirname(
            os.path.dirname(input.shards[0])
        ),
    shell:
        "unisync score --manifest {input.manifest:q} --shard {wildcards.shard} --shards-dir {params.shards_dir:q}"
        " --scorer {params.scorer} {params.model} --settings {params.settings:q} {params.plots}"
        " --out-dir {output:q} > {log:q} 2>&1"


rule score_merge:
    input:
        expand(f"{RESULTS}/score/shards/{{shard}}", shard=SHARDS),
    output:
        videos=f"{RESULTS}/score/videos.csv",
        segments=f"{RESULTS}/score/segments.csv",
        json=f"{RESULTS}/score/scores.json",
    log:
        f"{RESULTS}/logs/score_merge.log",
    benchmark:
        f"{RESULTS}/benchmarks/score_merge.tsv"
    conda:
        "../../envs/unisync.yaml"  # the score jobs' env: the scorers may compute any representation
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.videos),
    shell:
        "unisync score-merge {input:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule score_all:
    input:
        rules.score_merge.output,
