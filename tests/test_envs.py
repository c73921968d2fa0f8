"""The per-stage conda environments (envs/) and the pip extras behind them: every rule names an
environment that exists, every environment installs this package with extras that pyproject.toml
defines, each stage's environment brings what that stage imports, and a missing optional library
is reported with the extra that installs it."""
from __future__ import annotations

import re
import sys
try:
    import tomllib  # novermin (3.10 takes tomli below)
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import yaml

from conftest import ROOT
from unisync_model.optional import EXTRAS, MissingDependency, require

# what each rule's stage imports beyond the core package (optional.EXTRAS maps modules to extras)
NEEDS = {"demo_corpus": {"demo"}, "landmarks": {"landmarks", "fan"}, "parsing": {"parsing"}, "hubert": {"hubert"},
         "score": {"landmarks", "fan", "parsing", "hubert", "syncnet"}}


def project_extras() -> dict[str, set[str]]:
    """Each extra of pyproject.toml → the leaf extras it installs (itself, or those its `unisync[…]` name)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def leaves(name: str) -> set[str]:
        named = [m.group(1).split(",") for r in extras[name] if (m := re.fullmatch(r"unisync-lipsync\[([\w,]+)\]", r))]
        return set().union(*(leaves(e) for group in named for e in group)) if named else {name}

    return {name: leaves(name) for name in extras}


def env_extras(env_file) -> set[str]:
    env = yaml.safe_load(env_file.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    (line,) = [p for p in pip if p.startswith("-e ..")]
    m = re.fullmatch(r"-e \.\.(?:\[([\w,]+)\])?", line)
    assert m, f"{env_file.name}: {line!r} is not `-e ..[extras]`"
    return set(m.group(1).split(",")) if m.group(1) else set()


def rule_envs() -> dict[str, str]:
    envs = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        rule = None
        for line in smk.read_text().splitlines():
            if m := re.match(r"\s*rule (\w+):", line):
                rule = m.group(1)
            elif m := re.match(r'\s*"\.\./\.\./envs/([\w.]+)"', line):
                envs[rule] = m.group(1)
    return envs


def test_every_rule_with_a_command_has_an_existing_environment():
    envs = rule_envs()
    assert {"audio", "tracks", "landmarks", "hubert", "train", "score"} <= set(envs)
    for rule, name in envs.items():
        assert (ROOT / "envs" / name).is_file(), (rule, name)


def test_environments_install_extras_that_exist_and_cover_their_stage():
    defined = project_extras()
    for env_file in sorted((ROOT / "envs").glob("*.yaml")):
        unknown = env_extras(env_file) - set(defined)
        assert not unknown, f"{env_file.name} asks for extras pyproject.toml lacks: {unknown}"
    assert set(defined["all"]) >= {extra for extra, _ in EXTRAS.values()}  # `all` is everything optional
    for rule, name in rule_envs().items():
        installed = set().union(set(), *(defined[e] for e in env_extras(ROOT / "envs" / name)))
        missing = NEEDS.get(rule, set()) - installed
        assert not missing, f"rule {rule}'s envs/{name} lacks the extras {missing}"
    # the stages that need nothing optional get the small environment, not everything
    assert rule_envs()["audio"] == rule_envs()["train"] == "core.yaml"
    assert env_extras(ROOT / "envs" / "core.yaml") == set()


def test_a_missing_optional_library_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # an import of dlib now fails as if it were absent
    with pytest.raises(MissingDependency, match=r"pip install 'unisync-lipsync\[landmarks\]'"):
        require("dlib")
    from unisync_model.extract.landmarks import DlibLandmarks
    from unisync_model.settings import LandmarksSettings
    with pytest.raises(MissingDependency, match="dlib landmarks backend"):
        DlibLandmarks(LandmarksSettings())


def test_other_import_errors_pass_through():
    with pytest.raises(ModuleNotFoundError) as caught:
        require("no_such_module_anywhere")
    assert not isinstance(caught.value, MissingDependency)
    assert require("facexlib").__name__ == "facexlib"  # installed: the module itself
