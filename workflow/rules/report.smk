# The report: what happened to every clip (clips.csv, counts.csv, summary.md) and mouth-crop contact sheets.
import os

# The stages in pipeline order: the two every clip goes through, then the representations trained on.
REPORT_STAGES = list(
    dict.fromkeys(
        [
            "audio",
            "tracks",
            *(v for _, v in COMBINATIONS),
            *(a for a, _ in COMBINATIONS),
        ]
    )
)


rule report:
    input:
        manifest=f"{RESULTS}/clips.parquet",
        shards=[path for stage in REPORT_STAGES for path in shard_files(stage)],
        resync=training_resync,
    output:
        report(
            directory(f"{RESULTS}/report"),
            caption="../report/clips.rst",
            category="Clips",
            patterns=[
                "{name,summary}.md",
                "{name,contact_sheet}.png",
                "{name,counts}.csv",
            ],
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        shards=",".join(SHARDS),
        # <shards_dir>/<stage>/<shard>.h5, taken from the inputs (the linter's advice for non-shared file systems)
        shards_dir=lambda wildcards, input: os.path.dirname(
            os.path.dirname(input.shards[0])
        ),
        stages=",".join(REPORT_STAGES),
        resync=resync_option,
    shell:
        "unisync report --manifest {input.manifest:q} --shards-dir {params.shards_dir:q} --shards {params.shards}"
        " --stages {params.stages} {params.resync} --out-dir {output:q} > {log:q} 2>&1"


# What every job cost (snakemake's benchmark files), for the HTML report and for sizing profiles/slurm.
# It runs after the table and the clip report, so it sees the jobs of the whole run.
rule job_benchmarks:
    input:
        f"{RESULTS}/table.md",
        f"{RESULTS}/report",
    output:
        csv=report(
            f"{RESULTS}/benchmarks.csv",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
        png=report(
            f"{RESULTS}/benchmarks.png",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/job_benchmarks.log",
    benchmark:
        f"{RESULTS}/benchmarks/job_benchmarks.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # beside the outputs: <results>/benchmarks, where every rule's benchmark file goes
        directory=lambda wildcards, output: os.path.join(
            os.path.dirname(output.csv), "benchmarks"
        ),
    shell:
        "unisync job-benchmarks {params.directory:q} --csv {output.csv:q} --png {output.png:q} > {log:q} 2>&1"
