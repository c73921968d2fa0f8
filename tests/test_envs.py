"""The per-stage conda environments (envs/) and the pip extras behind them: every rule names an
environment that exists, every environment lists exactly pyproject.toml's requirements for the extras
it brings (its post-deploy script installs the package itself, without dependencies), each rule's
environment brings what its commands import (found by reading the modules they use) and nothing
more, and a missing optional library is reported with the extra that installs it."""
from __future__ import annotations

import ast
import os
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

try:
    import tomllib  # novermin (3.10 takes tomli below)
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from helpers import ROOT

from unisync_model import representations
from unisync_model.io.optional import DISTRIBUTION, EXTRAS, MissingDependency, require

PACKAGE = ROOT / "unisync_model"
ENVS = ROOT / "envs"


# ---------------------------------------------------------------- pyproject.toml and envs/


@cache
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def extra_requirements(name: str) -> set[str]:
    """The requirements an extra installs, with the extras its `unisync-lipsync[…]` entries name."""
    out = set()
    for requirement in project()["optional-dependencies"][name]:
        if m := re.fullmatch(rf"{re.escape(DISTRIBUTION)}\[([\w,]+)\]", requirement):
            out |= set().union(*(extra_requirements(e) for e in m.group(1).split(",")))
        else:
            out.add(requirement)
    return out


def leaf_extras() -> set[str]:
    """The extras that name requirements of their own (not `all`, `score`, `test`, which combine others)."""
    extras = project()["optional-dependencies"]
    return {name for name, reqs in extras.items() if not any(r.startswith(f"{DISTRIBUTION}[") for r in reqs)}


def env_dependencies(name: str) -> tuple[list[str], list[str]]:
    """(conda packages, pip requirements) of envs/<name>."""
    env = yaml.safe_load((ENVS / name).read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [p for d in env["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]
    return conda, pip


def env_extras(name: str) -> set[str]:
    """The leaf extras whose requirements envs/<name> lists (the workflow extra, snakemake, is no stage's)."""
    _, pip = env_dependencies(name)
    return {e for e in leaf_extras() - {"workflow", "test"} if extra_requirements(e) <= set(pip)}


# ---------------------------------------------------------------- the rules


def rule_blocks() -> dict[str, str]:
    """Each rule of workflow/rules/*.smk → the text of its definition."""
    blocks = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", smk.read_text(), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2]))
    return blocks


def rule_envs() -> dict[str, str]:
    """Each rule with a conda directive → the envs/ file it names."""
    envs = {}
    for rule, text in rule_blocks().items():
        if m := re.search(r'^\s*conda:\n\s*"\.\./\.\./envs/([\w.]+)"', text, re.M):
            envs[rule] = m.group(1)
    return envs


def rule_commands() -> dict[str, set[str]]:
    """Each rule → the `unisync` subcommands its shell command runs (`unisync_train` is `train`)."""
    commands = {}
    for rule, text in rule_blocks().items():
        shell = text.split("    shell:", 1)[1] if "    shell:" in text else ""
        found = set(re.findall(r"(?<![\w-])unisync ([a-z][\w-]*)", shell))
        commands[rule] = found | ({"train"} if re.search(r"(?<![\w-])unisync_train ", shell) else set())
    return commands


# ---------------------------------------------------------------- what a command imports


def module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports_of(tree: ast.AST, module: str) -> tuple[set[str], set[str]]:
    """(modules of this package, other top-level modules) that the code under `tree` imports anywhere,
    counting `require("x")` (unisync_model.io.optional) as an import of x."""
    own, other = set(), set()
    package = module if module_file(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.split(".")[0] == PACKAGE.name else other).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level - 1` levels up
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != PACKAGE.name:
                other.add(base)
                continue
            own.add(base)
            own |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}  # submodules
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" and \
                getattr(node.func.value, "id", None) == "representations":
            own |= registry_modules(node)  # code the registry names, loaded by "module:attribute"
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            other.add(node.args[0].value)
    return own, {name.split(".")[0] for name in other}


REFERENCES = ("extractor", "per_clip", "preprocess", "panel")


def registry_modules(call: ast.Call) -> set[str]:
    """The modules a `representations.load(...)` call may import: those of the registry's references
    of the kind its argument names (`….preprocess`), or of every kind when it names none."""
    kinds = {n.attr for n in ast.walk(call) if isinstance(n, ast.Attribute) and n.attr in REFERENCES} or REFERENCES
    return {getattr(rep, kind).partition(":")[0] for rep in representations.REGISTRY.values() for kind in kinds
            if getattr(rep, kind)}


@cache
def scan(module: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(modules of this package, other top-level modules, programs) that one module's code imports or runs."""
    tree = ast.parse(module_file(module).read_text())
    own, other = imports_of(tree, module)
    return frozenset(own), frozenset(other), frozenset(programs_of(tree))


def programs_of(tree: ast.AST) -> set[str]:
    """The programs that code under `tree` runs: the first item of an argv list literal (a string, then
    at least one option starting with "-", as in ["ffmpeg", "-nostdin", …]) in a module that uses subprocess."""
    if not any(isinstance(n, (ast.Import, ast.ImportFrom)) and "subprocess" in
               [a.name for a in n.names] + [getattr(n, "module", None)] for n in ast.walk(tree)):
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant) and \
                isinstance(node.elts[0].value, str) and \
                any(isinstance(e, ast.Constant) and str(e.value).startswith("-") for e in node.elts[1:]):
            found.add(node.elts[0].value)
    return found


@cache
def reached(module: str) -> frozenset[str]:
    """Every module of the package that importing `module` and calling anything in it may import,
    including imports inside functions. An over-estimate for a command that uses only part of a
    module, never an under-estimate."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its packages
        todo += scan(name)[0]
    return frozenset(seen)


@cache
def optional_imports(module: str) -> frozenset[str]:
    """The optional modules (optional.EXTRAS) that `module` may import, through every module it reaches."""
    return frozenset(set().union(*(scan(m)[1] for m in reached(module))) & set(EXTRAS))


@cache
def programs_run(module: str) -> frozenset[str]:
    """The programs (ffmpeg, espeak-ng, …) that `module` may run, through every module it reaches."""
    return frozenset(set().union(*(scan(m)[2] for m in reached(module))))


@cache
def command_needs() -> dict[str, set[str]]:
    """Each `unisync` subcommand → the extras it needs: those of the optional modules its function in
    cli/ imports (the commands import their modules inside the function), directly or beneath."""
    needs = {}
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        module = f"{PACKAGE.name}.cli" + ("" if path.stem == "__init__" else f".{path.stem}")
        needs.update(decorated_command_needs(ast.parse(path.read_text()), module))
    for name in representations.names():  # the commands cli/stages.py makes from the registry run the extractor
        modules = optional_imports(representations.get(name).extractor.partition(":")[0])
        needs[name] = {EXTRAS[m][0] for m in modules}
    return needs


def decorated_command_needs(tree: ast.Module, module: str) -> dict[str, set[str]]:
    needs = {}
    for name, (own, other) in decorated_command_imports(tree, module).items():
        modules = (other & set(EXTRAS)).union(*(optional_imports(m) for m in own))
        needs[name] = {EXTRAS[m][0] for m in modules}
    return needs


def decorated_command_imports(tree: ast.Module, module: str) -> dict[str, tuple[set[str], set[str]]]:
    """Each click command defined in `tree` → (modules of this package, other modules) its function imports."""
    imports = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", None) == "command":
                name = decorator.args[0].value if decorator.args else node.name.replace("_", "-")
                imports[name] = imports_of(node, module)
    return imports


# a program → the conda package that brings it (where the names differ)
PROGRAM_PACKAGES = {"ffprobe": "ffmpeg"}


@cache
def command_programs() -> dict[str, set[str]]:
    """Each `unisync` subcommand → the conda packages of the programs it may run (found as command_needs
    finds its extras: through the modules its function imports, or its extractor for the registry's commands)."""
    programs = {}
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        module = f"{PACKAGE.name}.cli" + ("" if path.stem == "__init__" else f".{path.stem}")
        for name, (own, _) in decorated_command_imports(ast.parse(path.read_text()), module).items():
            programs[name] = set().union(*(programs_run(m) for m in own))
    for name in representations.names():
        programs[name] = set(programs_run(representations.get(name).extractor.partition(":")[0]))
    return {name: {PROGRAM_PACKAGES.get(p, p) for p in found} for name, found in programs.items()}


def rule_needs() -> dict[str, set[str]]:
    needs = command_needs()
    return {rule: set().union(*(needs[c] for c in commands)) for rule, commands in rule_commands().items()}


def rule_programs() -> dict[str, set[str]]:
    programs = command_programs()
    return {rule: set().union(*(programs[c] for c in commands)) for rule, commands in rule_commands().items()}


# ---------------------------------------------------------------- the tests


def test_every_rule_with_a_command_has_an_existing_environment():
    envs = rule_envs()
    assert {"audio", "tracks", "landmarks", "hubert", "train", "score"} <= set(envs)
    for rule, name in envs.items():
        assert (ENVS / name).is_file(), (rule, name)
    assert set(envs.values()) == {p.name for p in ENVS.glob("*.yaml")}  # none unused
    # every rule that runs a command runs the package's, and names its environment
    commands = rule_commands()
    unknown = {rule: c - set(command_needs()) for rule, c in commands.items() if c - set(command_needs())}
    assert not unknown, f"rules run commands cli.py lacks: {unknown}"
    with_shell = {rule for rule, text in rule_blocks().items() if "    shell:" in text}
    assert with_shell <= set(envs)
    assert {rule for rule in with_shell if not commands[rule]} == {"shift_corpus"}  # ln and cp only


def test_the_import_scan_finds_the_optional_modules():
    """A check of the scan itself: the stages known to need an extra are found needing it, and every
    optional module is needed by some command (a renamed `require` would otherwise pass unnoticed)."""
    needs = command_needs()
    assert needs["demo-corpus"] == {"demo"} and needs["hubert"] == {"hubert"}
    assert needs["landmarks"] == {"landmarks", "fan"} and needs["parsing"] == {"parsing"}
    assert needs["score"] >= {"landmarks", "fan", "parsing", "hubert", "syncnet"}
    assert needs["audio"] == needs["train"] == needs["manifest"] == set()
    assert set().union(*needs.values()) == {extra for extra, _ in EXTRAS.values()}


def test_environments_list_pyprojects_requirements_for_their_extras():
    core = set(project()["dependencies"])
    for env_file in sorted(ENVS.glob("*.yaml")):
        _, pip = env_dependencies(env_file.name)
        assert len(pip) == len(set(pip)), f"{env_file.name} lists a requirement twice"
        expected = core.union(*(extra_requirements(e) for e in env_extras(env_file.name)))
        assert set(pip) == expected, (
            f"{env_file.name}'s pip list is not pyproject.toml's dependencies and extras {env_extras(env_file.name)}: "
            f"missing {sorted(expected - set(pip))}, unknown {sorted(set(pip) - expected)}")
    # `all` is everything optional
    assert extra_requirements("all") >= set().union(*(extra_requirements(e) for e, _ in EXTRAS.values()))


def test_each_rules_environment_brings_what_its_commands_import_and_no_more():
    envs, needs = rule_envs(), rule_needs()
    for rule, name in envs.items():
        missing = needs[rule] - env_extras(name)
        assert not missing, f"rule {rule} imports what the extras {missing} bring, which envs/{name} lacks"
    for name in {p.name for p in ENVS.glob("*.yaml")}:
        used = set().union(*(needs[rule] for rule, env in envs.items() if env == name))
        assert env_extras(name) == used, f"envs/{name} brings extras no rule of it imports: {env_extras(name) - used}"
    # the stages that need nothing optional get the small environment
    assert envs["audio"] == envs["train"] == envs["manifest"] == "core.yaml"
    assert env_extras("core.yaml") == set()


def test_environments_need_nothing_but_channels_and_registries():
    """No environment refers to a path: Snakemake builds from a copy of the file under .snakemake/conda/,
    from which a relative path (the old `-e ..`) points elsewhere. Python as the project supports it."""
    requires_python = project()["requires-python"]
    for env_file in sorted(ENVS.glob("*.yaml")):
        conda, pip = env_dependencies(env_file.name)
        local = [p for p in pip if re.match(r"(-e|--editable|-r|--requirement|\.|/|~|file:)", p.strip())]
        assert not local, f"{env_file.name} refers to paths: {local}"
        assert f"python{requires_python}" in conda, f"{env_file.name}: python{requires_python}, as pyproject.toml"
        assert "pip" in conda


def test_each_rules_environment_brings_the_programs_its_commands_run():
    """The programs (ffmpeg, espeak-ng) found in the code each rule's commands reach are in its
    environment's conda list, and a program no rule of an environment runs is not (the hubert stage,
    reading audio shards, runs none)."""
    envs, programs = rule_envs(), rule_programs()
    known = set().union(*command_programs().values())
    assert known >= {"ffmpeg", "espeak-ng"}  # a check of the scan itself
    assert programs["demo_corpus"] == {"ffmpeg", "espeak-ng"} and programs["mel"] == set()
    for rule, name in envs.items():
        conda, _ = env_dependencies(name)
        missing = programs[rule] - set(conda)
        assert not missing, f"rule {rule} runs {missing}, which envs/{name} lacks"
    for name in {p.name for p in ENVS.glob("*.yaml")}:
        conda, _ = env_dependencies(name)
        used = set().union(*(programs[rule] for rule, env in envs.items() if env == name))
        assert not (known & set(conda)) - used, f"envs/{name} brings programs no rule of it runs"


def test_every_environment_has_the_post_deploy_script_that_installs_the_package():
    script = (ENVS / "core.post-deploy.sh").read_text()
    for env_file in sorted(ENVS.glob("*.yaml")):
        deploy = env_file.with_suffix(".post-deploy.sh")
        assert deploy.is_file(), f"{deploy.name} is missing: the environment would lack the package"
        assert deploy.read_text() == script, f"{deploy.name} differs from core.post-deploy.sh"
        assert os.access(deploy, os.X_OK)
    assert script.startswith("#!/usr/bin/env bash\n")  # Snakemake runs it with its shebang's interpreter
    # it runs the one install script of the project root, which installs the root without dependencies
    assert re.search(r'^exec bash "\$\{UNISYNC_PROJECT_ROOT:\?[^}]*\}/envs/install_checkout.sh"$', script, re.M)
    install = (ENVS / "install_checkout.sh").read_text()
    assert re.search(r'^python -m pip install .*--no-deps .*--editable "\$root"$', install, re.M)
    # the project root comes from the Snakefile's process, which sets it in common.smk
    assert "UNISYNC_PROJECT_ROOT" in script
    assert "os.environ.update(UNISYNC_PROJECT_ROOT=" in (ROOT / "workflow" / "rules" / "common.smk").read_text()


def test_a_missing_optional_library_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # an import of dlib now fails as if it were absent
    with pytest.raises(MissingDependency, match=re.escape(f"pip install '{DISTRIBUTION}[landmarks]'")):
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
