"""The package's shape holds: no module over 400 lines, the layers import-linter checks (when it is
installed), and the workflow's planning imports neither torch nor a checkpoint reader."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "unisync_model"


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_the_layers_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    run = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "KEPT" in run.stdout


def test_the_workflows_planning_imports_no_torch():
    """What common.smk imports of the package, imported in a fresh interpreter: torch stays out."""
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    modules = set(re.findall(r"^from (unisync_model[\w.]*) import", common, re.M))
    modules |= {f"unisync_model.{m}" for m in re.findall(r"^from unisync_model import (\w+)", common, re.M)}
    assert "unisync_model.representations" in modules
    code = f"import sys; import {', '.join(sorted(modules))}; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
