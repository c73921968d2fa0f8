"""The environment the tests' subprocesses run in."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers.paths import SHARED_WEIGHTS


def venv_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin directory first, for `unisync`."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["UNISYNC_OFFLINE"] = "1"
    if SHARED_WEIGHTS.is_dir():
        env["UNISYNC_WEIGHTS"] = str(SHARED_WEIGHTS)
    return env
