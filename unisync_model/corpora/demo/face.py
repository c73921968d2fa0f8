"""The demo speakers' face: the astronaut photo that ships with scikit-image, in each speaker's colours
and framing, its lower face warped per video frame so the jaw drops and the lips spread or round with
the speech, under a slow head sway and mild sensor noise that are independent of the speech."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from unisync_model.corpora.demo.cast import Speaker
from unisync_model.io.optional import require
from unisync_model.settings import FPS

# skimage.data.astronaut() is 512 x 512 RGB (Eileen Collins, smiling with her upper teeth showing).
# Measured by eye on 6x-magnified crops with a 5-px grid, cross-checked with YuNet (face box x 178-268,
# y 63-176; mouth-corner keypoints (198.6, 142.8) and (239.7, 143.6)):
#   - the lips span x 202-245 (centre x 223, half width 21.5); the corners sit at y ~142;
#   - the upper teeth run y 142-149 and the lower lip y 149-155, so the line between the lips (the lower
#     edge of the upper teeth) is at y ~149 in the middle and curves up to y ~142 at the corners;
#   - the chin's lowest point is at y ~177 (the black collar starts at y ~185); the hair top is at y ~17.
MOUTH_X = 223.0
LIP_LINE_Y = 149.0
MOUTH_CORNER_Y = 142.0
MOUTH_HALF_WIDTH = 21.5
CHIN_Y = 177.0
HEAD_CENTRE = (222.0, 112.0)  # middle of hair top to chin, and of the face box across
FACE_BOX_HEIGHT = 113.0  # YuNet's box height: the crop is sized so the face fills ~55-70 % of the frame
FACE_FRACTION = 0.61  # face box height / frame side at scale 1
JAW_DROP = 0.35 * 2 * MOUTH_HALF_WIDTH  # jaw drop at full openness (photo pixels)
SUPERSAMPLE = 2  # frames are drawn at 2x and downscaled (INTER_AREA): smooth edges, no aliasing


@lru_cache(maxsize=1)
def _photo() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo (RGB uint8) and a soft mask of its backdrop (float32 in [0, 1])."""
    astronaut = require("skimage.data").astronaut

    photo = np.ascontiguousarray(astronaut())
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    raw = ((hsv[..., 1] < 50) & (hsv[..., 2] > 120)).astype(np.uint8)  # the backdrop is pale and grey
    face = np.zeros_like(raw)
    cv2.ellipse(face, (222, 112), (46, 74), 0, 0, 360, 1, -1)  # keep teeth and highlights of the face
    raw[face > 0] = 0
    raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(raw)
    mask = np.zeros_like(raw)
    for i in range(1, count):  # the backdrop reaches the top edge; the helmet's highlights do not
        if stats[i, cv2.CC_STAT_TOP] == 0 and stats[i, cv2.CC_STAT_AREA] > 2000:
            mask[labels == i] = 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    return photo, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)


def speaker_photo(speaker: Speaker) -> np.ndarray:
    """The photo in the speaker's colours: tinted backdrop, then hue, saturation and brightness."""
    photo, mask = _photo()
    image = photo.astype(np.float32)
    luma = image @ np.float32([0.299, 0.587, 0.114])
    tinted = np.float32(speaker.background)[None, None] * (luma / 200.0)[..., None]
    alpha = (speaker.background_strength * mask)[..., None]
    image = image * (1 - alpha) + tinted * alpha
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + speaker.hue) % 180
    hsv[..., 1] *= speaker.saturation
    hsv[..., 2] *= speaker.brightness
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def _affine(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def speaker_matrix(speaker: Speaker, side: int) -> np.ndarray:
    """3x3 map from photo pixels to the speaker's (side x side) frame: crop, scale, rotation, mirror."""
    crop = FACE_BOX_HEIGHT / FACE_FRACTION / speaker.scale  # photo pixels across the frame
    centre = (HEAD_CENTRE[0] + speaker.shift[0] * crop, HEAD_CENTRE[1] + speaker.shift[1] * crop)
    matrix = _affine(cv2.getRotationMatrix2D(centre, speaker.rotation, side / crop))
    matrix[0, 2] += side / 2 - centre[0]
    matrix[1, 2] += side / 2 - centre[1]
    if speaker.mirror:
        matrix = np.array([[-1.0, 0, side], [0, 1, 0], [0, 0, 1]]) @ matrix
    return matrix


def mouth_box(speaker: Speaker, size: int) -> tuple[float, float, float]:
    """Where the mouth is in the speaker's size x size frames at rest: (centre x, centre y, width) in pixels."""
    matrix = speaker_matrix(speaker, size)
    x, y, _ = matrix @ [MOUTH_X, (MOUTH_CORNER_Y + LIP_LINE_Y + 6) / 2, 1.0]
    return float(x), float(y), float(2 * MOUTH_HALF_WIDTH * np.hypot(*matrix[0, :2]))


class FaceRenderer:
    """Draws one speaker's frames: the photo warped per frame by head sway and by the mouth's openness/width."""

    def __init__(self, speaker: Speaker, size: int):
        self.size = size
        self.side = side = size * SUPERSAMPLE
        self.matrix = speaker_matrix(speaker, side)  # photo -> frame
        self.base = cv2.warpAffine(speaker_photo(speaker), self.matrix[:2], (side, side), flags=cv2.INTER_AREA,
                                   borderMode=cv2.BORDER_REFLECT_101)
        self.brightness = speaker.brightness
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
        self.xs, self.ys = xs, ys
        # the frame region the mouth's warp can reach, whatever the sway: the photo's lower face
        corners = np.array([[MOUTH_X + s * 2.6 * MOUTH_HALF_WIDTH, y, 1.0]
                            for s in (-1, 1) for y in (MOUTH_CORNER_Y - 12, CHIN_Y + 30)])
        points = corners @ self.matrix[:2].T
        margin = 0.04 * side
        x0, y0 = np.floor(points.min(axis=0) - margin).astype(int)
        x1, y1 = np.ceil(points.max(axis=0) + margin).astype(int)
        self.roi = (slice(max(y0, 0), min(y1, side)), slice(max(x0, 0), min(x1, side)))

    def sway(self, t: float, phases: np.ndarray) -> np.ndarray:
        """3x3 map from output pixels to base-frame pixels: a slow sway independent of the speech."""
        side = self.side
        wave = np.sin(2 * np.pi * np.array([0.21, 0.33, 0.27, 0.9]) * t + phases)  # slow, unrelated to speech
        angle = 0.8 * wave[0]  # degrees
        dx = side * (0.012 * wave[1] + 0.004 * wave[3])  # about 2 px at 160 px
        dy = side * 0.009 * wave[2]
        matrix = _affine(cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0))
        matrix[0, 2] += dx
        matrix[1, 2] += dy
        return matrix

    def render(self, openness: float, width: float, sway: np.ndarray) -> np.ndarray:
        """One frame (size x size RGB uint8, before noise)."""
        r = self.roi
        linear = sway[:2].tolist()
        map_x = linear[0][0] * self.xs + linear[0][1] * self.ys + linear[0][2]
        map_y = linear[1][0] * self.xs + linear[1][1] * self.ys + linear[1][2]
        # photo coordinates of the mouth region's output pixels
        to_photo = (np.linalg.inv(self.matrix) @ sway).tolist()
        px = to_photo[0][0] * self.xs[r] + to_photo[0][1] * self.ys[r] + to_photo[0][2]
        py = to_photo[1][0] * self.xs[r] + to_photo[1][1] * self.ys[r] + to_photo[1][2]

        half = MOUTH_HALF_WIDTH * width
        u = (px - MOUTH_X) / half
        lip = LIP_LINE_Y - (LIP_LINE_Y - MOUTH_CORNER_Y) * np.minimum(u * u, 1.0)
        below = py - lip  # > 0 under the line between the lips
        # jaw drop: full under the lips, 0.8 at the chin, fading out over the neck; across, it spans the
        # mouth at the lips and widens towards the chin (the whole jaw moves; the cheeks stretch)
        depth = np.clip(below / (CHIN_Y - LIP_LINE_Y), 0.0, None)
        down = np.where(depth <= 1.0, 1.0 - 0.2 * depth, 0.8 * np.clip(1.0 - (py - CHIN_Y) / 22.0, 0.0, 1.0))
        reach = half * (1.0 + 0.8 * np.clip(depth, 0.0, 1.0))
        across = np.clip(1.0 - ((px - MOUTH_X) / reach) ** 2, 0.0, 1.0) ** 0.7
        drop = np.where(below > 0, JAW_DROP * openness * across * down, 0.0)
        # the lips stretch or round about the mouth's centre
        window = np.exp(-0.5 * ((px - MOUTH_X) / (1.6 * MOUTH_HALF_WIDTH)) ** 2
                        - 0.5 * ((py - LIP_LINE_Y) / 10.0) ** 2)
        shift_x = (px - MOUTH_X) * (1.0 / width - 1.0) * window
        # backward map: the output pixel shows the photo at (px + shift_x, py - drop)
        a = self.matrix[:2, :2].tolist()
        map_x[r] += (a[0][0] * shift_x - a[0][1] * drop).astype(np.float32)
        map_y[r] += (a[1][0] * shift_x - a[1][1] * drop).astype(np.float32)
        image = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

        # the gap between the lips: under the lip line, where the map reaches back above it
        gap = np.minimum(below, drop - below)  # distance (photo pixels) inside the gap
        alpha = np.clip(gap / 1.2, 0.0, 1.0)
        if alpha.max() > 0:
            t = np.clip(below / np.maximum(drop, 1e-3), 0.0, 1.0)  # 0 at the upper teeth, 1 at the lower lip
            side_fade = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
            cavity = (np.sin(np.pi * t) * side_fade)[..., None]
            colour = (np.float32([105, 38, 42]) * (1 - cavity) + np.float32([22, 5, 8]) * cavity)
            tongue = (np.clip((t - 0.55) / 0.3, 0.0, 1.0) * side_fade * np.clip(drop / 8.0, 0.0, 1.0))[..., None]
            colour = colour * (1 - 0.6 * tongue) + np.float32([135, 55, 62]) * 0.6 * tongue
            teeth = (np.clip((below - (drop - 2.2)) / 0.8, 0.0, 1.0) * np.clip((drop - 6.0) / 3.0, 0.0, 1.0)
                     * np.clip((0.65 - np.abs(u)) / 0.15, 0.0, 1.0))[..., None]
            colour = colour * (1 - teeth) + np.float32([205, 200, 188]) * teeth
            colour *= self.brightness
            region = image[r].astype(np.float32)
            image[r] = np.clip(region * (1 - alpha[..., None]) + colour * alpha[..., None], 0, 255).astype(np.uint8)
        return cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)


def render_frames(renderer: FaceRenderer, openness: np.ndarray, width: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """All frames of a clip (N x size x size x 3 RGB uint8), with head sway and mild sensor noise."""
    phases = rng.uniform(0, 2 * np.pi, 4)
    frames = np.empty((len(openness), renderer.size, renderer.size, 3), np.uint8)
    for i, (o, w) in enumerate(zip(openness, width)):
        image = renderer.render(float(o), float(w), renderer.sway(i / FPS, phases))
        noise = rng.standard_normal(image.shape, dtype=np.float32) * 1.8
        frames[i] = np.clip(image + noise, 0, 255).astype(np.uint8)
    return frames

