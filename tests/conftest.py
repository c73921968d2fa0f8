"""Shared test setup (fixtures): never touch the network, and find the small real weights in ../shared.
Helper functions and constants live in the `helpers` package (tests/helpers/)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_WEIGHTS, YUNET


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("UNISYNC_OFFLINE", "1")
    monkeypatch.setenv("UNISYNC_CACHE", str(tmp_path_factory.getbasetemp() / "weights-cache"))
    if SHARED_WEIGHTS.is_dir():
        monkeypatch.setenv("UNISYNC_WEIGHTS", str(SHARED_WEIGHTS))


@pytest.fixture(scope="session")
def yunet_weights() -> Path:
    path = SHARED_WEIGHTS / YUNET
    if not path.is_file():
        pytest.skip(f"needs {YUNET} in {SHARED_WEIGHTS} (../shared is absent on this machine)")
    return path
