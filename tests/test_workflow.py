"""The workflow end to end on a tiny demo corpus, in a temporary directory: it runs, accounts for
every clip, does nothing the second time, and `-R mel` reruns mel and only what depends on it.
The tiny configuration is .test/config.yaml (TINY), merged into config.yaml. Its model files are a tiny
random HuBERT and a random 3DDFA_V2 MobileNet the test saves (loaded through the stages' real paths;
tests/test_tdmm.py checks the real 3DDFA_V2 weights), and YuNet from tests/data/weights."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from helpers import ROOT, venv_env
from helpers.tiny_hubert import make_tiny_hubert
from helpers.tiny_tdmm import make_random_3ddfa
from helpers.workflow_config import COMBINATIONS, LEARNING, TINY, merged

from unisync_model.io.shards import ShardReader

pytestmark = pytest.mark.slow


def snakemake(workdir, *args):
    result = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
                             "--configfile", str(workdir / "config.yaml"), *args],
                            capture_output=True, text=True, env=venv_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule → count."""
    stats = output.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def run_workflow(tmp_path_factory, request, name: str, *overlays: dict) -> tuple:
    """`snakemake --cores 2 train_all` in a new working directory, with config.yaml and the overlays."""
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)")
    request.getfixturevalue("yunet_weights")
    workdir = tmp_path_factory.mktemp(name)
    make_tiny_hubert(workdir / "tiny-hubert")
    weights, mean_std = make_random_3ddfa(workdir / "random-3ddfa")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for overlay in overlays:
        config = merged(config, overlay)
    config["tdmm"].update(weights=str(weights), mean_std=str(mean_std))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    output = snakemake(workdir, "--cores", "2", "train_all")
    return workdir, output


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory, request):
    return run_workflow(tmp_path_factory, request, "workflow", TINY)


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory, request):
    return run_workflow(tmp_path_factory, request, "learning", TINY, LEARNING)


def test_plan_is_printed_without_running(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(merged(yaml.safe_load((ROOT / "config.yaml").read_text()),
                                                                 TINY)))
    jobs = planned_jobs(snakemake(tmp_path, "-n", "train_all"))
    assert jobs == {"demo_corpus": 1, "manifest": 1, "audio": 2, "tracks": 2, "rgb": 2, "parsing": 2, "landmarks": 2,
                    "tdmm": 2, "mel": 2, "hubert": 2, "train": 8, "evaluate": 8, "table": 1, "report": 1,
                    "training_curves": 8, "job_benchmarks": 1, "train_all": 1}
    assert not (tmp_path / "results").exists()


def test_run_writes_the_table_and_accounts_for_every_clip(workflow_run):
    workdir, _ = workflow_run
    results = workdir / "results" / "tiny"
    table = pd.read_csv(results / "table.csv")
    assert set(table["protocol"]) == {"binary + offset"}
    assert table["offset_K15_%"].between(0, 100).all() and (table["LSE-D"] >= 0).all()
    assert sorted(zip(table["audio"], table["visual"])) == sorted(COMBINATIONS)  # all 8 rows filled
    assert (table["seeds"] == 1).all() and table["mean_%"].between(0, 100).all()
    assert (results / "table.png").stat().st_size > 0
    assert "binary protocol" in (results / "table.md").read_text()
    for audio, visual in COMBINATIONS:
        metrics = json.loads((results / "models" / f"{audio}_{visual}" / "seed0" / "metrics_binary.json").read_text())
        assert metrics["pairs"] == 60 and metrics["seed"] == 0 and metrics["speakers"] == 1
    log = pd.read_csv(results / "models" / "mel_rgb" / "seed0" / "training.csv")
    assert list(log["epoch"]) == [1, 2]
    clips = pd.read_parquet(results / "clips.parquet")
    assert len(clips) == 8 and set(clips["split"]) == {"train", "val", "test"}
    for stage in ("audio", "tracks", "rgb", "mel", "landmarks", "parsing", "tdmm", "hubert"):
        seen = []
        for shard in ("000", "001"):
            reader = ShardReader(results / "shards" / stage / f"{shard}.h5")
            seen += reader.clip_ids + [s["clip_id"] for s in reader.skipped]
            assert set(reader.clip_ids) <= set(clips.loc[clips["shard"] == shard, "clip_id"])
        assert sorted(seen) == sorted(clips["clip_id"]), stage
    assert not list(workdir.rglob("*.tmp"))
    report = pd.read_csv(results / "report" / "clips.csv")
    assert sorted(report["clip_id"]) == sorted(clips["clip_id"])
    assert (report["status"] == "ok").all(), report[["clip_id", "status"]]
    assert len(list((results / "report" / "contact_sheets").glob("*.png"))) == len(clips)


def test_the_workflow_learns(learning_run):
    """Mel × landmarks on the demo corpus, through every rule: validation (an unseen speaker) and the binary
    and offset protocols on the test speaker (another) end far above chance. The bar is 0.8, twelve
    standard deviations above chance with 400 pairs, and below where the demo's unseen speakers level off
    (near 0.9: validation 0.88–0.91 over epochs 20–40). Measured: validation 0.51 → 0.89 (best epoch),
    binary 0.845 on the test speaker."""
    workdir, _ = learning_run
    models = workdir / "results" / "learning" / "models" / "mel_landmarks" / "seed0"
    history = pd.read_csv(models / "training.csv")
    print("\n", history[["epoch", "train_loss", "train_accuracy", "val_accuracy"]].to_string(index=False))
    assert list(history["epoch"]) == list(range(1, LEARNING["train"]["epochs"] + 1))
    assert history["val_accuracy"].iloc[0] < 0.75  # near chance at first ...
    assert history["val_accuracy"].max() > 0.8  # ... and far from it
    assert history["train_loss"].iloc[-1] < 0.7 * history["train_loss"].iloc[0]
    binary = json.loads((models / "metrics_binary.json").read_text())
    print({k: round(binary[k], 3) for k in ("accuracy", "accuracy_synced", "accuracy_unsynced")})
    assert binary["pairs"] == 400 and binary["speakers"] == 1
    assert binary["accuracy"] > 0.8 and min(binary["accuracy_synced"], binary["accuracy_unsynced"]) > 0.65
    table = pd.read_csv(workdir / "results" / "learning" / "table.csv").iloc[0]
    assert table["offset_K15_%"] > 80  # the offset found within ±1 frame: chance is about 3 in 31 shifts


def test_second_run_does_nothing(workflow_run):
    workdir, _ = workflow_run
    assert "Nothing to be done" in snakemake(workdir, "--cores", "2", "train_all")


def test_rerunning_mel_reruns_only_what_depends_on_it(workflow_run):
    workdir, _ = workflow_run
    jobs = planned_jobs(snakemake(workdir, "-n", "--cores", "2", "train_all", "-R", "mel"))
    assert jobs == {"mel": 2, "train": 4, "evaluate": 4, "table": 1, "report": 1, "training_curves": 4,
                    "job_benchmarks": 1, "train_all": 1}


def test_changing_a_stage_setting_reruns_that_stage_and_its_dependants(workflow_run):
    workdir, _ = workflow_run
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["landmarks"]["batch_size"] += 1
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        jobs = planned_jobs(snakemake(workdir, "-n", "--cores", "2", "train_all"))
    finally:
        config["landmarks"]["batch_size"] -= 1
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # parsing's landmarks backend reads the landmarks: both visual stages rerun, with what trains on them
    assert jobs == {"landmarks": 2, "parsing": 2, "train": 4, "evaluate": 4, "table": 1, "report": 1,
                    "training_curves": 4, "job_benchmarks": 1, "train_all": 1}


def test_training_resumes_from_its_checkpoint(workflow_run, tmp_path):
    """A rerun with more epochs continues from checkpoints/last.pt instead of starting over."""
    workdir, _ = workflow_run
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"]["epochs"] = 3
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2", "results/tiny/models/mel_rgb/seed0/model.pt")  # one model is enough here
    log = pd.read_csv(workdir / "results" / "tiny" / "models" / "mel_rgb" / "seed0" / "training.csv")
    assert list(log["epoch"]) == [1, 2, 3]
    train_log = (workdir / "results" / "tiny" / "logs" / "train" / "mel_rgb_seed0.log").read_text()
    assert "resuming after epoch 2" in train_log


def test_visualize_draws_every_extractor_side_by_side(workflow_run):
    workdir, _ = workflow_run
    results = workdir / "results" / "tiny"
    clip_id = pd.read_parquet(results / "clips.parquet")["clip_id"].iloc[0]
    out = workdir / "visualize"
    # from the workflow's directory, as a user would: the manifest's paths are relative to it
    subprocess.run(["unisync", "visualize", clip_id, "--results", "results/tiny", "--out-dir", str(out), "--rows", "3"],
                   check=True, capture_output=True, env=venv_env(), cwd=workdir)
    import cv2
    png = cv2.imread(str(next(out.glob("*.png"))))
    assert png.shape[0] == 3 * 192  # three frames, one row each
    assert png.shape[1] == 192 + 384 + 384 + 192  # frame with landmarks, mouth crop (2:1), parsing (2:1), pose
    mp4 = next(out.glob("*.mp4"))
    streams = json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", str(mp4)],
                                        capture_output=True, text=True, check=True).stdout)["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}


def test_html_report_shows_results_training_clips_and_run_times(workflow_run):
    """`snakemake --report` after the run: the results table, every model's training log and the clip
    report with their captions (workflow/report), and each rule's jobs and run times from the run's metadata."""
    workdir, _ = workflow_run
    snakemake(workdir, "--report", str(workdir / "report.html"))
    html = (workdir / "report.html").read_text()
    assert "System Message" not in html  # every caption rendered

    def embedded(name: str):  # a JSON object the report's page script holds: var <name> = {…}
        return json.JSONDecoder().raw_decode(html, re.search(rf"var {name} =\s*(?=\{{)", html).end())[0]

    categories, results = embedded("categories"), embedded("results")
    files = {cat: sorted(results[path]["filename"] for paths in subs.values() for path in paths)
             for cat, subs in categories.items()}
    assert files["Results"] == ["table.csv", "table.md", "table.png"]
    assert files["Clips"] == ["contact_sheet.png", "counts.csv", "summary.md"]
    assert files["Benchmarks"] == ["benchmarks.csv", "benchmarks.png"]
    assert sorted(categories["Training"]) == sorted(f"{a} × {v}" for a, v in COMBINATIONS)
    for a, v in COMBINATIONS:
        path, curves = sorted(categories["Training"][f"{a} × {v}"])
        assert path.endswith(f"models/{a}_{v}/seed0/training.csv") and curves.endswith(f"{a}_{v}/training_curves.png")
        assert "<th class=\"head\">val_accuracy</th>" in results[path]["caption"]  # the log, as a table
    rules = embedded("rules")
    assert {rule: rules[rule]["n_jobs"] for rule in ("train", "evaluate", "tracks", "table", "report")} == \
        {"train": len(COMBINATIONS), "evaluate": len(COMBINATIONS), "tracks": 2, "table": 1, "report": 1}
    timed = {job["rule"] for job in embedded("runtimes_spec")["data"]["values"]}
    assert {"manifest", "audio", "tracks", "train", "evaluate", "table", "report"} <= timed
