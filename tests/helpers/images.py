"""Checks of a written figure's content, not only its size in bytes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def assert_figure(path: str | Path, min_width: int = 300, min_height: int = 200) -> np.ndarray:
    """The PNG decodes, has at least that size, and holds a drawing: more than one colour, ink (pixels
    away from the background) over a real share of it, and coloured ink (a curve), not only grey text."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable image"
    height, width = image.shape[:2]
    assert width >= min_width and height >= min_height, (path, width, height)
    background = np.median(image.reshape(-1, 3), axis=0)
    ink = np.abs(image.astype(np.int16) - background).sum(axis=2) > 60
    assert 0.005 < ink.mean() < 0.9, f"{path}: {ink.mean():.4f} of the pixels drawn"
    channels = image.astype(np.int16)
    coloured = (channels.max(axis=2) - channels.min(axis=2)) > 60
    assert coloured.sum() > 100, f"{path}: no coloured line (only grey)"
    return image
