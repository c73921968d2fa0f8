"""Helpers the tests share (fixtures stay in tests/conftest.py).

pytest puts tests/ on sys.path (rootdir-relative "prepend" imports: tests/ has no __init__.py), so the
test modules import this package as `helpers`:

- `helpers.paths`: ROOT, SHARED, SHARED_WEIGHTS, YUNET, the committed test data (TEST_WEIGHTS,
  TEST_CLIPS, SMALL_REAL_CLIPS) and WEIGHTS_PATH, the tests' $UNISYNC_WEIGHTS (re-exported here)
- `helpers.environment`: venv_env, the subprocesses' environment (re-exported here)
- `helpers.workflow_config`: TINY (.test/config.yaml), COMBINATIONS, merged
- `helpers.bad_inputs`, `helpers.mouth_check`, `helpers.real_clips`, `helpers.tiny_hubert`,
  `helpers.tiny_tdmm`: test data and checks
"""
from helpers.environment import venv_env
from helpers.paths import ROOT, SHARED, SHARED_WEIGHTS, SMALL_REAL_CLIPS, TEST_CLIPS, TEST_WEIGHTS, WEIGHTS_PATH, YUNET

__all__ = ["ROOT", "SHARED", "SHARED_WEIGHTS", "SMALL_REAL_CLIPS", "TEST_CLIPS", "TEST_WEIGHTS", "WEIGHTS_PATH",
           "YUNET", "venv_env"]
