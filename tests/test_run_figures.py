"""The figures the workflow adds to its report from a run's own files: the training curves of a
combination (from its training.csv logs) and the cost of every job (from snakemake's benchmark files)."""
from __future__ import annotations

import pytest

from unisync_model.reporting import job_benchmarks
from unisync_model.reporting.training_curves import plot_curves, read_logs
from helpers.images import assert_figure

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_benchmark_files_become_one_row_per_job_and_a_sum_per_rule(tmp_path):
    root = tmp_path / "benchmarks"
    (root / "tracks").mkdir(parents=True)
    (root / "tracks" / "000.tsv").write_text(HEADER + "10.0\t0:00:10\t300\t900\t200\t220\t5\t1\t90\t9.0\n")
    # a job benchmarked twice (repeat("…", 2)): its mean
    (root / "tracks" / "001.tsv").write_text(HEADER + "4.0\t0:00:04\t100\t900\t80\t90\t1\t1\t80\t3.0\n"
                                                      "6.0\t0:00:06\t140\t900\t80\t90\t1\t1\t80\t5.0\n")
    (root / "table.tsv").write_text(HEADER + "0.5\t0:00:00\t50\t900\t40\t45\t0\t0\t10\t0.1\n")
    (root / "notes.tsv").write_text("something\telse\n1\t2\n")  # not a benchmark: left out
    jobs = job_benchmarks.gather(root)
    assert jobs[["rule", "job", "s", "cpu_time"]].values.tolist() == [
        ["table", "", 0.5, 0.1], ["tracks", "000", 10.0, 9.0], ["tracks", "001", 5.0, 4.0]]
    rules = job_benchmarks.per_rule(jobs).set_index("rule")
    assert rules.loc["tracks", "jobs"] == 2 and rules.loc["tracks", "s"] == 15.0
    assert rules.loc["tracks", "max_rss"] == 300  # the largest job's peak, not a sum
    job_benchmarks.write(jobs, tmp_path / "out.csv", tmp_path / "out.png")
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("rule,job,s,max_rss")
    assert_figure(tmp_path / "out.png")


def test_training_curves_plot_one_line_pair_per_seed(tmp_path):
    log = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,windows,seconds\n1,0.7,0.5,0.69,0.5,64,1\n" \
          "2,0.6,0.7,0.65,0.6,64,1\n"
    paths = []
    for seed in (0, 3):
        (tmp_path / f"seed{seed}").mkdir()
        paths.append(tmp_path / f"seed{seed}" / "training.csv")
        paths[-1].write_text(log)
    assert sorted(read_logs(paths)) == ["seed 0", "seed 3"]
    plot_curves(paths, "mel × rgb", tmp_path / "curves.png")
    assert assert_figure(tmp_path / "curves.png").shape[1] > 600
    (tmp_path / "bad.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ValueError, match="not a training log"):
        read_logs([tmp_path / "bad.csv"])
