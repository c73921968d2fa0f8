"""Where the tests find the project and their data.

- tests/data (committed, with its licences beside it): the YuNet model file (tests/data/weights) and
  two 3 s real talking-face clips (tests/data/clips, CC BY 4.0, see ATTRIBUTION.md), enough for every
  test that needs a real face detector or real speech on video, on any checkout.
- ../shared beside the project (absent on some machines): more real model files (3DDFA_V2) and the
  38 real clips of ../shared/data/clips; only the tests that need those skip without it.

WEIGHTS_PATH is the $UNISYNC_WEIGHTS the tests and their subprocesses run with: tests/data/weights,
then ../shared/weights when it exists (os.pathsep-separated, as the weights resolver reads it)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights"
YUNET = "face_detection_yunet_2023mar.onnx"

TEST_DATA = ROOT / "tests" / "data"
TEST_WEIGHTS = TEST_DATA / "weights"
TEST_CLIPS = TEST_DATA / "clips"
# Frontal, speaking, clean audio; the first 3 s of the ../shared clips of the same names (VoxCeleb2 crops,
# 224 × 224, 25 fps, 16 kHz audio). Their sync is assumed, not verified.
SMALL_REAL_CLIPS = ("vox_pcavs_Audio_Source_00086", "vox_pcavs_Audio_Source_681100216")
SMALL_REAL_SECONDS = 3.0

WEIGHT_DIRS = [TEST_WEIGHTS] + ([SHARED_WEIGHTS] if SHARED_WEIGHTS.is_dir() else [])
WEIGHTS_PATH = os.pathsep.join(str(d) for d in WEIGHT_DIRS)
