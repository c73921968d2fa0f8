"""Shared test setup: never touch the network, and find the small real weights in ../shared."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights"
YUNET = "face_detection_yunet_2023mar.onnx"


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


def venv_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin directory first, for `unisync`."""
    import sys
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["UNISYNC_OFFLINE"] = "1"
    if SHARED_WEIGHTS.is_dir():
        env["UNISYNC_WEIGHTS"] = str(SHARED_WEIGHTS)
    return env
