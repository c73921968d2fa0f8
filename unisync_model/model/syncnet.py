"""The original SyncNet (Chung & Zisserman, "Out of time", 2016) as a fixed expert: syncnet_python's
`SyncNetModel.S` with its module and parameter names, so the official `syncnet_v2.model` (the model
behind the LSE-D / LSE-C of talking-face papers) loads into it with strict=True, and the inputs it
was trained on, computed the way syncnet_python computes them.

Weights: a plain state dict of `S`, read by `load_syncnet` with torch.load(weights_only=True,
map_location="cpu") and load_state_dict(strict=True); nothing else is ever unpickled.

Audio (`mfcc`, `mfcc_windows`): python_speech_features.mfcc with its defaults (13 coefficients, 100 Hz)
on the 16 kHz samples *at int16 scale*, as syncnet_python reads them. The window of video frames
s…s+4 is the 20 MFCC frames 4 s … 4 s + 19; a clip has min(T, ⌊samples / 640⌋) − 5 windows
(`window_count`).

Video (`syncnet_crop`, `crop_faces`): syncnet_python's `crop_video` on our tracks' YuNet box (S3FD's
there): half-side bs = max(box w, h) / 2, median-filtered over the track with the box centre; a square
of 2.8 bs shifted down by 0.4 bs (it takes the chin), grey 110 beyond the frame, resized to 224 × 224,
kept BGR, fed as floats 0…255 without normalisation, 5 per window (B × 3 × 5 × 224 × 224).

The visual stream runs once over a run of frames instead of window by window (every layer after the
first has a temporal kernel of 1): the same features, in less time.

The recipes step by step, the differences that remain, and timings: docs/syncnet_and_lse.md#syncnet
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import torch
import torch.nn as nn
from scipy.signal import medfilt

from unisync_model.io import weights
from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.io.device import pick_device
from unisync_model.io.optional import require
from unisync_model.settings import SAMPLE_RATE, WINDOW_FRAMES

SYNCNET_FILE = "syncnet_v2.model"

EMBED_DIM = 1024
CROP_SIZE = 224
CROP_SCALE = 0.4  # syncnet_python's run_pipeline --crop_scale
CROP_FILL = 110  # the grey syncnet_python pads frames with
RUN_WINDOWS = 200  # windows embedded per run of crops (memory: RUN_WINDOWS + 4 crops of 150 kB a track)
BOX_MEDFILT = 13  # syncnet_python smooths box size and centre with a 13-frame median filter
MFCC_PER_FRAME = 4  # 100 Hz MFCC / 25 fps
MFCC_WINDOW = WINDOW_FRAMES * MFCC_PER_FRAME  # 20


# ---------------------------------------------------------------- the network

def _stack(layers: Iterable[tuple]) -> nn.Sequential:
    """A Sequential from a compact spec; the index of every module matches syncnet_python's S, so the
    state-dict keys do too. ("conv2d"/"conv3d", cin, cout, kernel, stride, padding) adds a
    convolution, its batch norm and a ReLU; ("pool2d"/"pool3d", kernel, stride[, padding]) a max pool."""
    modules: list[nn.Module] = []
    for kind, *args in layers:
        if kind in ("conv2d", "conv3d"):
            cin, cout, kernel, stride, padding = args
            conv, norm = (nn.Conv2d, nn.BatchNorm2d) if kind == "conv2d" else (nn.Conv3d, nn.BatchNorm3d)
            modules += [conv(cin, cout, kernel, stride, padding), norm(cout), nn.ReLU(inplace=True)]
        else:
            pool = nn.MaxPool2d if kind == "pool2d" else nn.MaxPool3d
            modules.append(pool(*args))
    return nn.Sequential(*modules)


def _head(embed_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim))


class SyncNetS(nn.Module):
    """syncnet_python's `SyncNetModel.S`: an audio stream on 1 × 13 × 20 MFCC windows and a lip stream
    on 3 × 5 × 224 × 224 frame stacks, each to a 1024-d embedding (compared by Euclidean distance)."""

    def __init__(self, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.netcnnaud = _stack([  # 1 × 13 × 20 → 512 × 1 × 1
            ("conv2d", 1, 64, 3, 1, 1), ("pool2d", 1, 1),
            ("conv2d", 64, 192, 3, 1, 1), ("pool2d", 3, (1, 2)),
            ("conv2d", 192, 384, 3, 1, 1),
            ("conv2d", 384, 256, 3, 1, 1),
            ("conv2d", 256, 256, 3, 1, 1), ("pool2d", 3, 2),
            ("conv2d", 256, 512, (5, 4), 1, 0),
        ])
        self.netfcaud = _head(embed_dim)
        self.netfclip = _head(embed_dim)
        self.netcnnlip = _stack([  # 3 × 5 × 224 × 224 → 512 × 1 × 1 × 1
            ("conv3d", 3, 96, (5, 7, 7), (1, 2, 2), 0), ("pool3d", (1, 3, 3), (1, 2, 2)),
            ("conv3d", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), ("pool3d", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            ("conv3d", 256, 256, (1, 3, 3), 1, (0, 1, 1)),
            ("conv3d", 256, 256, (1, 3, 3), 1, (0, 1, 1)),
            ("conv3d", 256, 256, (1, 3, 3), 1, (0, 1, 1)), ("pool3d", (1, 3, 3), (1, 2, 2)),
            ("conv3d", 256, 512, (1, 6, 6), 1, 0),
        ])

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """B × 1 × 13 × 20 MFCC windows → B × 1024."""
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """B × 3 × 5 × 224 × 224 BGR frame stacks (0…255) → B × 1024."""
        return self.netfclip(self.netcnnlip(x).flatten(1))

    def forward_lip_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """3 × n+4 × 224 × 224 consecutive frames → the n windows' embeddings (n × 1024), as
        forward_lip on each 5-frame window would give them (in eval mode)."""
        features = self.netcnnlip(x.unsqueeze(0))  # 1 × 512 × n × 1 × 1
        return self.netfclip(features[0, :, :, 0, 0].transpose(0, 1))


# ---------------------------------------------------------------- loading

class SyncNetWeightsError(ValueError):
    pass


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a SyncNet weights file, read with torch's weights-only unpickler (legacy and
    zip formats; CUDA storages are mapped to the CPU). A file that holds anything else — a pickled
    module, or code — is refused with SyncNetWeightsError, never executed."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for disallowed globals, RuntimeError for old tar files
        raise SyncNetWeightsError(
            f"{path}: not a state dict of tensors that torch's weights-only loader accepts ({err.__class__.__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Only syncnet_python's syncnet_v2.model (or a "
            f"state dict of SyncNetS saved with torch.save) is read; pickled objects are never loaded.") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SyncNetWeightsError(f"{path}: expected a state dict of SyncNetModel.S, got {type(state).__name__}")
    # a SyncNetInstance's own state dict prefixes every key with its attribute name
    return {k.removeprefix("__S__."): v for k, v in state.items()}


def load_syncnet(name_or_path: str | Path = SYNCNET_FILE, device: torch.device | None = None) -> SyncNetS:
    """The SyncNet of a weights file found by the project's resolver (a path, $UNISYNC_WEIGHTS, the
    cache, or the official address with the pinned sha256), strict, in eval mode, frozen."""
    path = weights.resolve(str(name_or_path))
    model = SyncNetS()
    try:
        model.load_state_dict(load_state(path), strict=True)
    except RuntimeError as err:
        raise SyncNetWeightsError(f"{path}: not syncnet_python's SyncNetModel.S: {err}") from None
    model.requires_grad_(False)
    return model.to(device or pick_device()).eval()


# ---------------------------------------------------------------- audio input

def _int16_scale(samples: np.ndarray) -> np.ndarray:
    """16 kHz samples as syncnet_python feeds them: int16 values (float input in [-1, 1] is scaled)."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (N,), got {samples.shape}")
    if np.issubdtype(samples.dtype, np.floating):
        return np.clip(np.round(samples.astype(np.float64) * 32768.0), -32768, 32767)
    return samples.astype(np.float64)


def mfcc(samples: np.ndarray) -> np.ndarray:
    """13 × n MFCC at 100 Hz of 16 kHz mono samples (int16, or float in [-1, 1]), as syncnet_python
    computes them: python_speech_features.mfcc with its defaults on int16-scaled samples."""
    return require("python_speech_features").mfcc(_int16_scale(samples), SAMPLE_RATE).T.astype(np.float32)


def mfcc_window_count(n_mfcc: int) -> int:
    """Windows (starting at video frames 0, 1, …) with all 20 MFCC frames: 4 s + 20 ≤ n_mfcc."""
    return max(0, (n_mfcc - MFCC_WINDOW) // MFCC_PER_FRAME + 1)


def mfcc_windows(cc: np.ndarray, count: int | None = None) -> np.ndarray:
    """count × 1 × 13 × 20: window s is cc[:, 4 s : 4 s + 20] (video frames s … s+4)."""
    count = mfcc_window_count(cc.shape[1]) if count is None else count
    if count > mfcc_window_count(cc.shape[1]):
        raise ValueError(f"{count} windows need {MFCC_PER_FRAME * (count - 1) + MFCC_WINDOW} MFCC frames, "
                         f"there are {cc.shape[1]}")
    starts = MFCC_PER_FRAME * np.arange(count)[:, None] + np.arange(MFCC_WINDOW)[None, :]
    return np.ascontiguousarray(cc[:, starts].transpose(1, 0, 2)[:, None])


def window_count(n_frames: int, n_samples: int) -> int:
    """syncnet_python's number of windows of a track: min(T, ⌊samples / 640⌋) − 5 (one fewer than
    the frames allow: the last window's audio would be one MFCC frame short)."""
    return max(0, min(n_frames, n_samples // SAMPLES_PER_FRAME) - WINDOW_FRAMES)


# ---------------------------------------------------------------- visual input

def syncnet_boxes(boxes: np.ndarray, smooth: bool = True) -> np.ndarray:
    """T × 3 (half side, centre x, centre y) of T × 4 boxes (x1, y1, x2, y2), median-filtered over
    13 frames like crop_video does over one track (scipy's medfilt pads with zeros at the ends, as
    there)."""
    boxes = np.asarray(boxes, np.float64)
    dets = np.stack([np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2,
                     (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    if smooth:
        dets = np.stack([medfilt(dets[:, c], kernel_size=BOX_MEDFILT) for c in range(3)], axis=1)
    return dets


def syncnet_crop(frame: np.ndarray, half_side: float, centre_x: float, centre_y: float,
                 crop_scale: float = CROP_SCALE) -> np.ndarray:
    """crop_video's crop of one H × W × 3 frame: the same integer bounds as its slice of the frame
    padded by int(bs (1 + 2 cs)) pixels of grey 110, resized to 224 × 224 (INTER_LINEAR)."""
    bs, cs = float(half_side), crop_scale
    pad = int(bs * (1 + 2 * cs))
    my, mx = centre_y + pad, centre_x + pad  # in padded coordinates, as syncnet_python computes them
    r0, r1 = int(my - bs), int(my + bs * (1 + 2 * cs))
    c0, c1 = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
    height, width = frame.shape[:2]
    # numpy clips a slice to the padded frame; negative starts only arise for boxes far outside it
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, height + 2 * pad), min(c1, width + 2 * pad)
    if r1 <= r0 or c1 <= c0:
        return np.full((CROP_SIZE, CROP_SIZE, 3), CROP_FILL, np.uint8)
    crop = np.full((r1 - r0, c1 - c0, 3), CROP_FILL, np.uint8)
    fr0, fr1 = max(r0 - pad, 0), min(r1 - pad, height)  # the part inside the unpadded frame
    fc0, fc1 = max(c0 - pad, 0), min(c1 - pad, width)
    if fr1 > fr0 and fc1 > fc0:
        crop[fr0 + pad - r0:fr1 + pad - r0, fc0 + pad - c0:fc1 + pad - c0] = frame[fr0:fr1, fc0:fc1]
    return cv2.resize(crop, (CROP_SIZE, CROP_SIZE))


def crop_faces(path: str | Path, track: np.ndarray, smooth: bool = True) -> np.ndarray:
    """T × 224 × 224 × 3 uint8 BGR SyncNet crops of a clip, one per row of its track (the tracks
    stage's array: box corners in source pixels, a segment column). Boxes are median-filtered per
    segment, as syncnet_python filters per face track; frames outside every segment get their
    unfiltered interpolated box (no window is drawn there)."""
    from unisync_model.io.media import probe, video_frames
    from unisync_model.io.track_array import segments_of

    dets = syncnet_boxes(track[:, :4], smooth=False)
    if smooth:
        for start, stop in segments_of(track):
            dets[start:stop] = syncnet_boxes(track[start:stop, :4], smooth=True)
    crops = np.empty((len(track), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    info = probe(path)
    decoded = 0
    for t, frame in zip(range(len(track)), video_frames(path, info=info)):
        crops[t] = syncnet_crop(frame, *dets[t])
        decoded += 1
    if decoded != len(track):
        raise ValueError(f"{path}: decoded {decoded} frames, the track has {len(track)}")
    return crops


# ---------------------------------------------------------------- the expert

class SyncNetExpert:
    """SyncNet embeddings per 5-frame window, batched, on the device chosen once.

    >>> expert = SyncNetExpert()                          # syncnet_v2.model through the resolver
    >>> visual = expert.embed_visual(crops)               # (T − 4) × 1024, crops: T × 224 × 224 × 3 BGR
    >>> audio = expert.embed_audio(samples)               # one row per window with full MFCC
    >>> n = window_count(len(crops), len(samples))        # syncnet_python's count: T − 5 when lengths match
    >>> lse.syncnet_lse(visual[:n], audio[:n])   # LSE-D, LSE-C, AV offset
    """

    def __init__(self, weights_name: str | Path = SYNCNET_FILE, device: torch.device | None = None,
                 batch_size: int = 20, model: SyncNetS | None = None):
        self.device = device or pick_device()
        self.model = (model or load_syncnet(weights_name, self.device)).to(self.device).eval()
        self.model.requires_grad_(False)
        self.batch_size = batch_size  # windows per forward pass (syncnet_python's default, 20)

    @torch.inference_mode()
    def embed_visual(self, frames: np.ndarray) -> torch.Tensor:
        """T × 224 × 224 × 3 uint8 BGR crops → (T − 4) × 1024 (row s: frames s … s+4), on the CPU."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"expected T × {CROP_SIZE} × {CROP_SIZE} × 3 frames, got {frames.shape}")
        windows = len(frames) - WINDOW_FRAMES + 1
        out = []
        for start in range(0, max(windows, 0), self.batch_size):
            stop = min(windows, start + self.batch_size)
            run = torch.from_numpy(frames[start:stop + WINDOW_FRAMES - 1]).to(self.device)
            run = run.permute(3, 0, 1, 2).float()  # 3 × n+4 × 224 × 224, BGR 0…255 as syncnet_python
            out.append(self.model.forward_lip_sequence(run).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, EMBED_DIM)

    @torch.inference_mode()
    def embed_mfcc(self, windows: np.ndarray) -> torch.Tensor:
        """n × 1 × 13 × 20 MFCC windows → n × 1024, on the CPU."""
        out = [self.model.forward_aud(torch.from_numpy(windows[i:i + 256]).float().to(self.device)).cpu()
               for i in range(0, len(windows), 256)]
        return torch.cat(out) if out else torch.zeros(0, EMBED_DIM)

    def embed_audio(self, samples: np.ndarray, count: int | None = None) -> torch.Tensor:
        """16 kHz mono samples (int16, or float in [-1, 1]) → one embedding per window with a full
        MFCC window (⌊(n_mfcc − 20) / 4⌋ + 1 of them, or the first `count`), on the CPU."""
        return self.embed_mfcc(mfcc_windows(mfcc(samples), count))

    def embed_clip(self, path: str | Path, track: np.ndarray, samples: np.ndarray) -> list[dict]:
        """Per segment of a track (syncnet_python's per face track): its frames' crops and its own
        audio (samples 640 a … 640 b, MFCC computed on that piece as syncnet_python does on the
        track's cut audio), both trimmed to syncnet_python's window count. A list of
        {"segment": (a, b), "visual": n × 1024, "audio": n × 1024} for syncnet_lse."""
        from unisync_model.io.track_array import segments_of
        return self.embed_tracks(path, [(a, track[a:b, :4]) for a, b in segments_of(track)], samples)

    def embed_tracks(self, path: str | Path, tracks: list[tuple[int, np.ndarray]], samples: np.ndarray,
                     with_audio: bool = True) -> list[dict]:
        """embed_clip for face tracks given as (first frame, T × 4 boxes), which may overlap in time (two
        faces): one decode for all of them, each frame's crops cut as it passes and embedded RUN_WINDOWS
        windows at a time (memory: that many crops a track, not the video's). Boxes are median-filtered
        per track (syncnet_boxes). Tracks too short for a window are left out of the list; `with_audio`
        False leaves out "audio" (a caller that embeds the audio later, from other samples)."""
        from unisync_model.io.media import probe, video_frames

        samples = np.asarray(samples)
        plans = []
        for first, boxes in tracks:
            piece = samples[first * SAMPLES_PER_FRAME:(first + len(boxes)) * SAMPLES_PER_FRAME]
            n = window_count(len(boxes), len(piece))
            if n > 0:
                plans.append({"first": first, "stop": first + len(boxes), "n": n, "piece": piece,
                              "dets": syncnet_boxes(boxes), "run": self.new_run(), "visual": None})
        last = max((p["first"] + p["n"] + WINDOW_FRAMES - 1 for p in plans), default=0)
        if plans:
            for t, frame in zip(range(last), video_frames(path, info=probe(path))):
                for p in plans:
                    k = t - p["first"]
                    if 0 <= k < p["n"] + WINDOW_FRAMES - 1:
                        self.add_crop(p["run"], syncnet_crop(frame, *p["dets"][k]))
                        if k == p["n"] + WINDOW_FRAMES - 2:
                            p["visual"] = self.end_run(p["run"])
        result = []
        for p in plans:
            if p["visual"] is None:
                raise ValueError(f"{path}: the video ends at a frame before its face track's last window")
            result.append({"segment": (p["first"], p["stop"]), "visual": p["visual"]})
            if with_audio:
                result[-1]["audio"] = self.embed_audio(p["piece"], p["n"])
        return result

    @staticmethod
    def new_run() -> dict:
        """A track's crops as they come (`add_crop`, then `end_run`)."""
        return {"frames": [], "parts": []}

    def add_crop(self, run: dict, crop: np.ndarray) -> None:
        """One more crop of a track: a run of RUN_WINDOWS windows (their frames: 4 more) is embedded as
        soon as it is full; consecutive runs share 4 frames."""
        run["frames"].append(crop)
        if len(run["frames"]) == RUN_WINDOWS + WINDOW_FRAMES - 1:
            run["parts"].append(self.embed_visual(np.stack(run["frames"])))
            run["frames"] = run["frames"][-(WINDOW_FRAMES - 1):]

    def end_run(self, run: dict) -> torch.Tensor:
        """The track's (T − 4) × 1024 window embeddings once its last crop is in."""
        if len(run["frames"]) >= WINDOW_FRAMES:  # after a full run 4 crops stay: a window needs a new one
            run["parts"].append(self.embed_visual(np.stack(run["frames"])))
        run["frames"] = []
        return torch.cat(run["parts"]) if run["parts"] else torch.zeros(0, EMBED_DIM)
