"""Shared test setup (fixtures and hooks): never touch the network; find the small real weights and
clips in tests/data (then ../shared, when it is there); and, with UNISYNC_TESTS_NO_SKIP=1 (CI sets it
where ../shared exists), turn every skip into a failure that names the skip's reason.
Helper functions and constants live in the `helpers` package (tests/helpers/)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import SMALL_REAL_CLIPS, TEST_CLIPS, TEST_WEIGHTS, WEIGHTS_PATH, YUNET

NO_SKIP = "UNISYNC_TESTS_NO_SKIP"
# Skips that stay skips even under UNISYNC_TESTS_NO_SKIP=1: (start of the reason, why it is allowed).
# Empty: on a CPU-only machine with ../shared, nothing in the suite skips.
ALLOWED_SKIPS: tuple[tuple[str, str], ...] = ()


# The tests `make test-fast` (-m "not slow") leaves out, besides tests/test_workflow.py (marked in its module):
# a whole module, or module::test. Each took half a minute or more (`pytest --durations=40`, 2-core CPU).
SLOW = (
    "test_real_corpora.py",  # 38 real clips of ../shared through every stage, as two trees (~4 min)
    "test_score_generated.py",  # every generated clip of ../shared scored
    "test_interrupt.py",  # stages killed halfway and rerun, with more clips until the kill lands
    "test_syncnet_python_protocol.py",  # syncnet_python's whole-frame protocol on two clips, through the CLI
    "test_track_stream.py::test_score_jobs_2_gives_what_jobs_1_gives_in_order",  # two CLI runs, spawned jobs
    "test_track_stream.py::test_a_worker_that_dies_costs_its_video_a_reason_not_the_run",  # spawned jobs
    "test_distributed.py::test_two_processes_follow_the_loss_curve_of_one",  # torchrun, two processes
    # the bad-input corpus through the manifest and every stage (the `pipeline` fixture)
    "test_bad_inputs.py::test_every_stage_exits_0",
    "test_bad_inputs.py::test_every_file_is_accounted_for_once",
    "test_bad_inputs.py::test_awkward_names_reach_rgb_and_mel",
    "test_bad_inputs.py::test_no_name_reached_a_shell",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW or f"{item.path.name}::{item.originalname}" in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("UNISYNC_OFFLINE", "1")
    monkeypatch.setenv("UNISYNC_CACHE", str(tmp_path_factory.getbasetemp() / "weights-cache"))
    monkeypatch.setenv("UNISYNC_WEIGHTS", WEIGHTS_PATH)  # tests/data/weights, then ../shared/weights


@pytest.fixture(scope="session")
def yunet_weights() -> Path:
    path = TEST_WEIGHTS / YUNET
    if not path.is_file():
        pytest.skip(f"needs {YUNET} in {TEST_WEIGHTS} (committed with the project: is the checkout complete?)")
    return path


@pytest.fixture(scope="session")
def small_real_clips() -> dict[str, Path]:
    """The committed 3 s real clips (tests/data/clips): name → path."""
    clips = {name: TEST_CLIPS / f"{name}.mp4" for name in SMALL_REAL_CLIPS}
    missing = [name for name, path in clips.items() if not path.is_file()]
    if missing:
        pytest.skip(f"needs the clips {missing} in {TEST_CLIPS} (committed with the project: is the checkout complete?)")
    return clips


# ------------------------------------------------------------------ UNISYNC_TESTS_NO_SKIP=1: a skip fails

def _no_skip() -> bool:
    return os.environ.get(NO_SKIP, "") not in ("", "0")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _allowed(reason: str) -> bool:
    return any(reason.startswith(start) for start, _ in ALLOWED_SKIPS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _no_skip() and report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not _allowed(reason):
            report.outcome = "failed"
            report.longrepr = (f"skipped ({reason}), but {NO_SKIP}=1: this machine is expected to run every "
                               f"test (CI sets it where ../shared exists)")


_module_skips: list[str] = []  # modules skipped whole at collection (pytest.importorskip, allow_module_level)


def pytest_collectreport(report):
    if _no_skip() and report.skipped and not _allowed(_skip_reason(report)):
        _module_skips.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_terminal_summary(terminalreporter):
    if _module_skips:
        terminalreporter.section(f"modules skipped although {NO_SKIP}=1 (failures)", red=True)
        for line in _module_skips:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    """A module skipped at collection fails the run too (after the other tests ran: no interruption)."""
    if _module_skips and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions on a shared 2-core machine: one thread is ~10× quicker than a contended pool."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
