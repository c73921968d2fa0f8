"""The environment the tests' subprocesses run in."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers.paths import WEIGHTS_PATH


def venv_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin directory first, for `unisync`."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["UNISYNC_OFFLINE"] = "1"
    env["UNISYNC_WEIGHTS"] = WEIGHTS_PATH  # tests/data/weights, then ../shared/weights when present
    return env
