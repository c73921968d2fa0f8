"""How jobs find the package, with and without --use-conda, offline and without conda.

Without conda deployment, the rules run the package through the interpreter that runs Snakemake: a
real run of demo_corpus and manifest with a PATH that lacks this venv's bin directory.

With it, Snakemake's own deployment (`--sdm conda --conda-create-envs-only`, then a real run) runs in
a copy of the workflow (as a clean checkout would be) against a stand-in `conda` that records what it
is asked and creates the environment's prefix, whose `python` records its arguments (and hands
everything but `pip` to this interpreter). Checked: every environment of every rule is built, from
a file that refers to no path (Snakemake builds from a copy under .snakemake/conda/), and its
post-deploy script, run by Snakemake with the environment activated, installs the project root of
the checkout (where pyproject.toml is) editable without dependencies; the jobs then run
`python -m unisync_model` of the activated environment.

Not checked here (needs a real conda and the network): that conda-forge and PyPI resolve the
environment files, and that pip's editable install works inside them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, WEIGHTS_PATH
from helpers.workflow_config import TINY, merged
from test_envs import rule_envs

# A demo corpus of one clip per speaker, small frames: what demo_corpus and manifest need, in seconds.
CHEAP = {"demo": {"clips_per_speaker": 1, "size": 96}}

# The stand-in `conda`: Snakemake calls `conda info --json`, `conda --version` (at least 24.7.1),
# `conda config --get channel_priority --json`, `conda env create --file F --prefix P` and
# `conda clean -y --tarballs` (snakemake/deployment/conda.py), then activates an environment with `source <conda_prefix>/bin/activate P`.
FAKE_CONDA = r'''#!{python}
import json, os, shutil, sys
from pathlib import Path

base = Path(os.environ["FAKE_CONDA_BASE"])
args = sys.argv[1:]
with open(os.environ["FAKE_CONDA_LOG"], "a") as log:
    log.write(json.dumps({{"conda": args}}) + "\n")
if args == ["--version"]:
    print("conda 24.11.3")
elif args[:2] == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": str(base), "platform": "linux-64", "envs_dirs": [], "pkgs_dirs": []}}))
elif args[:3] == ["config", "--get", "channel_priority"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}, "rc_path": str(base / ".condarc")}}))
elif args[:1] == ["clean"]:  # --conda-create-envs-only cleans the package tarballs up
    pass
elif args[:2] == ["env", "create"]:
    env_file, prefix = Path(args[args.index("--file") + 1]), Path(args[args.index("--prefix") + 1])
    (prefix / "bin").mkdir(parents=True)
    (prefix / "conda-meta").mkdir()
    python = prefix / "bin" / "python"
    python.write_text((base / "env_python").read_text())
    python.chmod(0o755)
    with open(os.environ["FAKE_CONDA_LOG"], "a") as log:
        log.write(json.dumps({{"created": str(prefix), "file": str(env_file), "content": env_file.read_text()}}) + "\n")
else:
    sys.exit(f"stand-in conda: not expected: {{args}}")
'''

# `python` in a stand-in environment: records how it is called, pretends `pip` worked, and runs
# anything else with the real interpreter (which has the package: the venv's).
ENV_PYTHON = r'''#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_CONDA_LOG"], "a") as log:
    log.write(json.dumps({{"python": args, "cwd": os.getcwd(), "conda_prefix": os.environ.get("CONDA_PREFIX"),
                          "executable": os.path.abspath(sys.argv[0])}}) + "\n")
if args[:2] == ["-m", "pip"]:
    sys.exit(0)
os.execv({python!r}, [{python!r}, *args])
'''

ACTIVATE = '''# stand-in conda's activate: `source activate <prefix>`
export CONDA_PREFIX="$1"
export PATH="$1/bin:$PATH"
'''


def system_path() -> str:
    """PATH without this interpreter's bin directory (nor any other venv's)."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                           if p and p != venv_bin and not Path(p, "activate").is_file())


def needs_demo_programs():
    if shutil.which("espeak-ng", path=system_path()) is None or shutil.which("ffmpeg", path=system_path()) is None:
        pytest.skip("needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)")


def tiny_config(workdir: Path, override: dict | None = None) -> Path:
    config = merged(merged(yaml.safe_load((ROOT / "config.yaml").read_text()), TINY), override or {})
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_snakemake(snakefile: Path, workdir: Path, *args: str, path: str, extra_env: dict | None = None) -> str:
    """The venv's snakemake, called by its path, with only `path` as PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")}
    env.update(PATH=path, UNISYNC_OFFLINE="1", **(extra_env or {}))
    env["UNISYNC_WEIGHTS"] = WEIGHTS_PATH
    snakemake = Path(sys.executable).parent / "snakemake"
    result = subprocess.run([str(snakemake), "-s", str(snakefile), "--directory", str(workdir),
                             "--configfile", str(workdir / "config.yaml"), *args],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


# ---------------------------------------------------------------- without conda


def test_jobs_run_through_snakemakes_interpreter_without_the_venv_on_path(tmp_path):
    needs_demo_programs()
    if shutil.which("unisync", path=system_path()) is not None:
        pytest.skip("a `unisync` command outside the venv would hide what this checks")
    tiny_config(tmp_path, CHEAP)
    plan = run_snakemake(ROOT / "Snakefile", tmp_path, "-n", "train_all", path=system_path())
    assert "job_benchmarks" in plan
    out = run_snakemake(ROOT / "Snakefile", tmp_path, "--cores", "2", "results/tiny/clips.parquet",
                        path=system_path())
    assert "2 of 2 steps (100%) done" in out
    clips = tmp_path / "results" / "tiny" / "clips.parquet"
    assert clips.stat().st_size > 0
    import pandas as pd
    assert len(pd.read_parquet(clips)) == 4  # 4 speakers × 1 clip


# ---------------------------------------------------------------- with conda: the stand-in


@pytest.fixture(scope="module")
def stand_in_conda(tmp_path_factory) -> dict:
    """A checkout copy, a working directory, and a stand-in conda base whose bin comes first on PATH."""
    top = tmp_path_factory.mktemp("conda")
    checkout = top / "checkout"
    checkout.mkdir()
    for name in ("Snakefile", "config.yaml", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, checkout / name)
    for name in ("workflow", "envs", "profiles", "configs"):
        shutil.copytree(ROOT / name, checkout / name)
    base = top / "conda-base"
    (base / "bin").mkdir(parents=True)
    conda = base / "bin" / "conda"
    conda.write_text(FAKE_CONDA.format(python=sys.executable))
    conda.chmod(0o755)
    (base / "bin" / "activate").write_text(ACTIVATE)
    (base / "env_python").write_text(ENV_PYTHON.format(python=sys.executable))
    workdir = top / "work"
    workdir.mkdir()
    tiny_config(workdir, CHEAP)
    log = top / "conda.jsonl"
    return {"checkout": checkout, "workdir": workdir, "log": log,
            "path": os.pathsep.join([str(base / "bin"), system_path()]),
            "env": {"FAKE_CONDA_BASE": str(base), "FAKE_CONDA_LOG": str(log)}}


def local_path(requirement: str) -> str | None:
    """The path a pip entry of an environment file refers to (`-e ..`, `-r x.txt`, `./pkg`), or None."""
    m = re.fullmatch(r"(?:(?:-e|--editable|-r|--requirement)\s*)?((?:\.|/|~|file:)\S*|\S+)", requirement.strip())
    if requirement.strip().startswith("-") or m.group(1).startswith((".", "/", "~", "file:")):
        return m.group(1).removeprefix("file:")
    return None


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


@pytest.fixture(scope="module")
def deployed(stand_in_conda) -> dict:
    """Snakemake's deployment of the environments of train_all and score_all (together: every rule's)."""
    s = stand_in_conda
    out = run_snakemake(s["checkout"] / "Snakefile", s["workdir"], "--sdm", "conda", "--conda-create-envs-only",
                        "--cores", "1", "train_all", "score_all", path=s["path"], extra_env=s["env"])
    return dict(s, output=out, records=records(s["log"]))


def test_every_environment_of_every_rule_is_built(deployed):
    created = [r for r in deployed["records"] if "created" in r]
    sources = {p.read_text(): p.name for p in (deployed["checkout"] / "envs").glob("*.yaml")}
    built = [sources.get(r["content"]) for r in created]
    assert None not in built, "an environment file that is none of envs/*.yaml"
    assert sorted(built) == sorted(set(built)), "an environment built twice"
    assert set(built) == set(rule_envs().values()) == set(sources.values())
    conda_dir = deployed["workdir"] / ".snakemake" / "conda"
    for r in created:  # under the working directory's .snakemake/conda/, from a copy beside the prefix
        assert Path(r["created"]).parent == conda_dir and r["file"] == f"{r['created']}.yaml"


def test_environment_files_refer_to_no_path_from_where_snakemake_copies_them(deployed):
    """A path in an environment file is resolved from its copy (the old `-e ..` → .snakemake/);
    any path-like pip entry must resolve from there to a project (none do)."""
    for r in (r for r in deployed["records"] if "created" in r):
        env = yaml.safe_load(r["content"])
        pip = [p for d in env["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]
        for path in filter(None, map(local_path, pip)):
            resolved = Path(r["file"]).parent / path
            assert (resolved / "pyproject.toml").is_file() or resolved.is_file(), (path, resolved)


def test_post_deploy_installs_the_checkout_into_each_environment(deployed):
    created = {r["created"] for r in deployed["records"] if "created" in r}
    installs = [r for r in deployed["records"] if r.get("python", [])[:2] == ["-m", "pip"]]
    assert {r["conda_prefix"] for r in installs} == created  # once in each, with it activated
    assert len(installs) == len(created)
    for r in installs:
        assert r["executable"] == str(Path(r["conda_prefix"], "bin", "python"))  # the environment's python
        args = r["python"]
        assert args[:3] == ["-m", "pip", "install"] and "--no-deps" in args
        root = Path(args[args.index("--editable") + 1])
        assert root == deployed["checkout"] and (root / "pyproject.toml").is_file()
        assert Path(r["cwd"]) == deployed["workdir"]  # Snakemake runs it in the working directory
        assert Path(f"{r['conda_prefix']}.post-deploy.sh").read_text() == (
            deployed["checkout"] / "envs" / "core.post-deploy.sh").read_text()


def test_jobs_run_the_package_through_their_environments_python(deployed):
    needs_demo_programs()
    before = len(deployed["records"])
    out = run_snakemake(deployed["checkout"] / "Snakefile", deployed["workdir"], "--sdm", "conda", "--cores", "1",
                        "results/tiny/clips.parquet", path=deployed["path"], extra_env=deployed["env"])
    assert "2 of 2 steps (100%) done" in out
    new = records(deployed["log"])[before:]
    assert not [r for r in new if "created" in r]  # built once
    calls = {r["python"][2]: r for r in new if r.get("python", [])[:2] == ["-m", "unisync_model"]}
    assert set(calls) == {"demo-corpus", "manifest"}
    envs = {r["created"]: Path(r["file"]).read_text() for r in deployed["records"] if "created" in r}
    checkout_envs = deployed["checkout"] / "envs"
    assert envs[calls["demo-corpus"]["conda_prefix"]] == (checkout_envs / "demo.yaml").read_text()
    assert envs[calls["manifest"]["conda_prefix"]] == (checkout_envs / "core.yaml").read_text()
    assert (deployed["workdir"] / "results" / "tiny" / "clips.parquet").stat().st_size > 0
