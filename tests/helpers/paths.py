"""Where the tests find the project and the shared data: the project root, and ../shared beside it
(small real weights and clips; absent on some machines, and the tests that need it skip)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights"
YUNET = "face_detection_yunet_2023mar.onnx"
