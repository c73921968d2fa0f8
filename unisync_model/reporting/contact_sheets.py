"""Contact sheets: evenly spaced mouth crops of a clip in one image, so a person can check the crops
at a glance; and file names for clip ids that any shell and file system take as they are."""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_BAND = 14  # pixels above each strip of the overview, for the clip id


def safe_name(clip_id: str, max_chars: int = 80) -> str:
    """A readable, unique file name stem: ASCII letters, digits, '.', '-' and '_' only, then a short
    hash of the real id, so ids that read alike still differ ('spk 1/Zoë' → 'spk_1_Zoe-<hash>')."""
    ascii_id = unicodedata.normalize("NFKD", clip_id).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", ascii_id).strip("._-")[:max_chars] or "clip"
    return f"{stem}-{hashlib.sha1(clip_id.encode()).hexdigest()[:8]}"


def pick_frames(length: int, count: int) -> np.ndarray:
    """Up to `count` frame indices evenly spread over a clip, first and last included."""
    return np.linspace(0, length - 1, min(count, length)).round().astype(int)


def check_crops(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"contact sheets need uint8 RGB frames (T, H, W, 3), got {frames.shape} {frames.dtype}")


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.35) -> None:
    # white on a black outline: legible on any crop
    cv2.putText(image, text, origin, FONT, scale, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _tiles(frames: np.ndarray, zoom: int) -> list[np.ndarray]:
    """RGB crops → BGR tiles (what cv2.imwrite expects), enlarged `zoom` times without blurring."""
    check_crops(frames)
    return [cv2.resize(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR), None, fx=zoom, fy=zoom,
                       interpolation=cv2.INTER_NEAREST) for f in frames]


def clip_sheet(frames: np.ndarray, indices: np.ndarray, columns: int = 4, zoom: int = 2) -> np.ndarray:
    """The picked crops of one clip (n, H, W, 3) and their frame indices → a BGR grid, index on each tile."""
    tiles = _tiles(frames, zoom)
    columns = min(columns, len(tiles))
    h, w = tiles[0].shape[:2]
    sheet = np.zeros((math.ceil(len(tiles) / columns) * h, columns * w, 3), np.uint8)
    for k, (tile, index) in enumerate(zip(tiles, indices)):
        _label(tile, str(index), (3, 6 + 6 * zoom), scale=0.25 * zoom)
        row, col = divmod(k, columns)
        sheet[row * h:(row + 1) * h, col * w:(col + 1) * w] = tile
    return sheet


def overview_sheet(strips: list[tuple[str, np.ndarray]], tiles: int = 8) -> np.ndarray:
    """One strip per clip: a band with its id (non-ASCII shown as '?', cv2 draws ASCII only), then
    `tiles` crops evenly spread over the given frames."""
    rows = []
    for clip_id, frames in strips:
        strip = np.hstack(_tiles(frames[pick_frames(len(frames), tiles)], zoom=1))
        band = np.zeros((LABEL_BAND, strip.shape[1], 3), np.uint8)
        _label(band, clip_id.encode("ascii", "replace").decode(), (2, 10))
        rows.append(np.vstack([band, strip]))
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
