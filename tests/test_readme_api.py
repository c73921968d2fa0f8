"""The README's Python API section, run as a reader would: each ```python block in a fresh
interpreter, its stdout compared with the ```text block shown after it."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

from helpers import ROOT, venv_env
from test_sync_loss import tiny_checkpoint


def api_examples() -> list[tuple[str, str]]:
    """(code, the output shown) for each example of the README's "Python API" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", section, flags=re.S)
    assert len(pairs) == 2, "the section shows two examples, each followed by its output"
    return pairs


def run_example(code: str, cwd) -> str:
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=venv_env(), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_scoring_a_video_prints_what_the_readme_shows(tmp_path, yunet_weights, small_real_clips):
    code, shown = api_examples()[0]
    shutil.copy(small_real_clips["vox_pcavs_Audio_Source_00086"], tmp_path / "talk.mp4")
    assert run_example(code, tmp_path) == shown


def test_sync_loss_prints_what_the_readme_shows(tmp_path):
    code, shown = api_examples()[1]
    tiny_checkpoint(tmp_path / "results" / "demo" / "models" / "mel_rgb" / "seed0" / "model.pt")
    assert run_example(code, tmp_path) == shown
