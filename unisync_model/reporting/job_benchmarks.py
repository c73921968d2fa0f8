"""What every job of a workflow run cost: the benchmark files snakemake writes for each job
(`benchmarks/<rule>/<wildcards>.tsv` or `benchmarks/<rule>.tsv`, one row per repeat: s, max_rss, …,
cpu_time) gathered into one table, and a chart of the seconds and peak memory per rule, to size the
resources of profiles/slurm."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.figures import pyplot, save_png

NUMBERS = ["s", "max_rss", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time"]


def gather(directory: str | Path) -> pd.DataFrame:
    """One row per job: rule, job (the wildcards part of its file name), and its numbers (the mean of
    repeats). Files that are not benchmark tables (no `s` column) are left out."""
    directory = Path(directory)
    rows = []
    for path in sorted(directory.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if "s" not in table or table.empty:
            continue
        relative = path.relative_to(directory).with_suffix("")
        rule, job = relative.parts[0], "/".join(relative.parts[1:])  # benchmarks/<rule>.tsv: job ""
        numbers = table[[c for c in NUMBERS if c in table]].apply(pd.to_numeric, errors="coerce").mean()
        rows.append({"rule": rule, "job": job, **numbers.round(2).to_dict()})
    return pd.DataFrame(rows, columns=["rule", "job", *NUMBERS])


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    return jobs.groupby("rule").agg(jobs=("job", "size"), s=("s", "sum"), cpu_time=("cpu_time", "sum"),
                                    max_rss=("max_rss", "max")).reset_index().sort_values("s", ascending=False)


def write(jobs: pd.DataFrame, csv_path: str | Path, png_path: str | Path) -> None:
    write_atomic(csv_path, jobs.to_csv(index=False))
    plt = pyplot()
    rules = per_rule(jobs)
    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 0.35 * max(len(rules), 3) + 1.5))
    time_ax.barh(rules["rule"], rules["s"], color="#4c72b0", label="wall-clock, all jobs")
    time_ax.barh(rules["rule"], rules["cpu_time"], color="#dd8452", height=0.4, label="CPU time, all jobs")
    time_ax.set(xlabel="seconds", title="time per rule")
    time_ax.legend(fontsize=7)
    mem_ax.barh(rules["rule"], rules["max_rss"], color="#55a868")
    mem_ax.set(xlabel="MB", title="peak resident memory of a job")
    for ax in (time_ax, mem_ax):
        ax.invert_yaxis()
    save_png(fig, png_path)
