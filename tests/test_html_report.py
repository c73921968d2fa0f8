"""`snakemake --report report.html` on a hand-made results tree of the tiny config (no run: snakemake
builds the report from the files alone, warning that their run metadata is missing). It shows the
results table, each model's training log and the report folder's summary, counts and contact sheet
under their categories, with the captions of workflow/report rendered (the tables read from the
files themselves) and the workflow's description."""
from __future__ import annotations

import json
import re
import subprocess

import cv2
import numpy as np
import pytest
import yaml
from helpers import ROOT, venv_env
from helpers.workflow_config import COMBINATIONS, TINY, merged

TABLE = "audio,visual,protocol,seeds,max_%,mean_%\n" + "".join(
    f"{a},{v},binary,1,{60 + i}.5,{60 + i}.5\n" for i, (a, v) in enumerate(COMBINATIONS))
TRAINING = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,windows,seconds\n" \
           "1,0.69,0.51,0.68,0.55,640,3.2\n2,0.61,0.66,0.64,0.625,640,3.1\n"
BENCHMARKS = "rule,job,s,max_rss,max_uss,max_pss,io_in,io_out,mean_load,cpu_time\n" \
             "tracks,000,12.5,310.2,200.1,220.4,5.1,0.4,95.2,11.9\ntrain,mel_rgb_seed0,61.25,2200.0,900.0,1000.0,3.0,50.0,180.0,110.3\n"


def embedded(html: str, name: str) -> dict:
    """A JSON object the report's page script holds (`var results = {…}`)."""
    start = re.search(rf"var {name} =\s*(?={{)", html).end()
    return json.JSONDecoder().raw_decode(html, start)[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report")
    (workdir / "config.yaml").write_text(yaml.safe_dump(merged(yaml.safe_load((ROOT / "config.yaml").read_text()),
                                                               TINY)))
    results = workdir / "results" / "tiny"
    (results / "report" / "contact_sheets").mkdir(parents=True)
    image = np.zeros((24, 48, 3), np.uint8)
    image[:, :24] = 255
    cv2.imwrite(str(results / "table.png"), image)
    (results / "table.csv").write_text(TABLE)
    (results / "table.md").write_text("# UniSync results: tiny\n")
    for audio, visual in COMBINATIONS:
        model = results / "models" / f"{audio}_{visual}" / "seed0"
        model.mkdir(parents=True)
        (model / "training.csv").write_text(TRAINING)
        cv2.imwrite(str(model.parent / "training_curves.png"), image)
    (results / "report" / "summary.md").write_text("# Clip report: tiny\n\n8 clips: 7 ok, 1 skipped, 0 missing.\n")
    (results / "report" / "counts.csv").write_text("scope,split,outcome,reason,clips\nfinal,all,ok,,7\n"
                                                   "final,all,skipped,tracks: no face,1\n")
    (results / "report" / "clips.csv").write_text("clip_id,status\nspk0/00000,ok\n")
    cv2.imwrite(str(results / "report" / "contact_sheet.png"), image)
    cv2.imwrite(str(results / "report" / "contact_sheets" / "spk0_00000.png"), image)
    (results / "benchmarks.csv").write_text(BENCHMARKS)
    cv2.imwrite(str(results / "benchmarks.png"), image)
    out = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile",
                          str(workdir / "config.yaml"), "--report", str(workdir / "report.html")],
                         capture_output=True, text=True, env=venv_env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert not (results / "clips.parquet").exists()  # nothing ran
    html = (workdir / "report.html").read_text()
    return embedded(html, "categories"), embedded(html, "results"), html


def test_files_are_in_their_categories(report):
    categories, results, _ = report
    names = {cat: {sub: sorted(results[path]["filename"] for path in paths) for sub, paths in subs.items()}
             for cat, subs in categories.items()}
    assert names["Results"] == {"Other": ["table.csv", "table.md", "table.png"]}
    assert names["Training"] == {f"{a} × {v}": ["training.csv", "training_curves.png"] for a, v in COMBINATIONS}
    assert names["Benchmarks"] == {"Other": ["benchmarks.csv", "benchmarks.png"]}
    # the folder's overview files, not every clip's sheet nor the per-clip table
    assert names["Clips"] == {"Other": ["contact_sheet.png", "counts.csv", "summary.md"]}
    training = [r for r in results.values() if r["filename"] == "training.csv"]
    assert sorted((r["labels"]["audio"], r["labels"]["visual"], r["labels"]["seed"]) for r in training) == \
        sorted((a, v, "0") for a, v in COMBINATIONS)
    assert {r["mime_type"] for r in results.values() if r["filename"].endswith(".png")} == {"image/png"}


def test_captions_show_the_tables_themselves(report):
    _, results, html = report
    assert "System Message" not in html  # docutils' way of saying a caption did not render
    by_file = {path.split("results/tiny/", 1)[1]: r["caption"] for path, r in results.items()}
    for a, v in COMBINATIONS:
        caption = by_file[f"models/{a}_{v}/seed0/training.csv"]
        assert f"<strong>{a} × {v}</strong>" in caption
        assert "<th class=\"head\">val_accuracy</th>" in caption and "<td>0.625</td>" in caption
    for name in ("table.csv", "table.md", "table.png"):
        assert "<td>60.5</td>" in by_file[name] and "<td>67.5</td>" in by_file[name] and "tiny" in by_file[name]
    assert "8 clips: 7 ok, 1 skipped" in by_file["report/summary.md"]
    assert "<td>tracks: no face</td>" in by_file["report/counts.csv"]
    assert "one strip of evenly spaced frames per clip" in by_file["report/contact_sheet.png"]
    assert "<td>61.25</td>" in by_file["benchmarks.csv"] and "<td>mel_rgb_seed0</td>" in by_file["benchmarks.png"]
    assert "<strong>mel × rgb</strong>" in by_file["models/mel_rgb/training_curves.png"]


def test_the_workflow_is_described(report):
    _, _, html = report
    assert "UniSync, an audio-visual synchronisation expert" in html
    assert "on corpus <strong>tiny</strong>" in html
    # with a link to each category the report has, and none to one it lacks
    assert all(f"showCategory('{name}')" in html for name in ("Results", "Training", "Clips", "Benchmarks"))
    assert "showCategory('Shift study')" not in html  # not part of train_all's run
