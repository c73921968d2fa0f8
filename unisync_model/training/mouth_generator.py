"""A small talking-mouth generator, trained with and without a frozen UniSync as its lip-sync loss
(paper Table VI in miniature: docs/syncloss.md).

The generator sees what Wav2Lip's generator sees, cut down to the rgb stage's picture: a reference
lower face of the same clip (its identity, from a frame at least `REFERENCE_GAP` frames away from the
window, so it does not show the mouth to draw) and the window's 16 log-Mel frames, and draws the
window's 5 lower faces (48 × 96 RGB, the rgb shards' crops). A small U-Net: the reference is encoded
once per window (3 stride-2 convolutions), each of the 5 frames gets its own audio code (1-D
convolutions over the Mel frames pooled to 5 steps), code and bottleneck are fused, and the decoder
goes back up with the encoder's skips to half size, where it draws the change to the reference (in
logits, upsampled bilinearly: full-size convolutions would cost 4 × as much on a CPU). Output
B × 5 × 48 × 96 × 3, RGB in [0, 1]: exactly the RGB expert's window, so `SyncLoss` takes it as it is.

`train_generator` trains one arm: L1 to the true crops (`weight` 0), or (1 − w) · L1 + w · SyncLoss
(Wav2Lip's recipe, w = 0.03), from a seed that fixes the initial weights and every batch, so two arms
of one seed differ only in the loss. Samples are drawn from the face segments of the training split.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
import torch.nn.functional as F

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.av_timing import audio_features
from unisync_model.model.checkpoint import atomic_save
from unisync_model.model.expert_loss import SyncLoss
from unisync_model.settings import WINDOW_FRAMES, SyncLossSettings
from unisync_model.training.windows import clip_table, open_shards

log = logging.getLogger(__name__)

REFERENCE_GAP = 5  # the reference frame lies at least this many frames from every frame of the window
CROP_SHAPE = (48, 96, 3)  # the rgb stage's lower half of a 96 × 96 face crop
LOGIT_EDGE = 1e-2  # the reference's pixels are clamped to [LOGIT_EDGE, 1 − LOGIT_EDGE] before the logit


@dataclass(frozen=True)
class MouthGeneratorConfig:
    width: int = 16  # channels of the first level; ×2 and ×4 below it
    audio_dim: int = 64  # each frame's audio code
    n_mels: int = 80
    mel_frames: int = 16  # the window's Mel frames (5 video frames at 80 Hz)
    crop: tuple[int, int] = CROP_SHAPE[:2]  # (height, width) of a crop, both divisible by 8


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _conv(cin, cout))


class MouthGenerator(nn.Module):
    """reference B × 48 × 96 × 3 (uint8, or float in [0, 1]) + Mel B × 16 × 80 → B × 5 × 48 × 96 × 3 in [0, 1]."""

    def __init__(self, config: MouthGeneratorConfig = MouthGeneratorConfig()):
        super().__init__()
        self.config = config
        c, a = config.width, config.audio_dim
        self.down1, self.down2, self.down3 = _conv(3, c, 2), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2)
        self.audio = nn.Sequential(
            nn.Conv1d(config.n_mels, 2 * c, 3, 1, 1, bias=False), nn.BatchNorm1d(2 * c), nn.ReLU(inplace=True),
            nn.Conv1d(2 * c, a, 3, 1, 1, bias=False), nn.BatchNorm1d(a), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(_conv(4 * c + a, 4 * c), _conv(4 * c, 4 * c))
        self.up3, self.up2 = _up(4 * c, 2 * c), _up(4 * c, c)
        self.head = nn.Sequential(_conv(2 * c, c), nn.Conv2d(c, 3, 3, 1, 1))
        nn.init.zeros_(self.head[-1].weight)  # at first the output is the reference
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, reference: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        if reference.dtype == torch.uint8:
            reference = reference.float() / 255.0
        b, h, w, _ = reference.shape
        t = WINDOW_FRAMES
        image = reference.permute(0, 3, 1, 2)  # B × 3 × H × W
        s1 = self.down1(image)
        s2 = self.down2(s1)
        s3 = self.down3(s2)
        code = F.adaptive_avg_pool1d(self.audio(mel.transpose(1, 2)), t)  # B × A × 5: one code per frame
        code = code.permute(0, 2, 1).reshape(b * t, -1, 1, 1).expand(-1, -1, *s3.shape[2:])

        def per_frame(x: torch.Tensor) -> torch.Tensor:  # B × … → (B·5) × …, each window's frames together
            return x.repeat_interleave(t, dim=0)

        x = self.fuse(torch.cat([per_frame(s3), code], 1))
        x = self.up3(x)
        x = self.up2(torch.cat([x, per_frame(s2)], 1))
        change = self.head(torch.cat([x, per_frame(s1)], 1))  # at half size: the full-size convolutions cost most
        change = F.interpolate(change, size=(h, w), mode="bilinear", align_corners=False)
        x = torch.sigmoid(torch.logit(per_frame(image).clamp(LOGIT_EDGE, 1 - LOGIT_EDGE)) + change)
        return x.reshape(b, t, 3, h, w).permute(0, 1, 3, 4, 2)


def reference_frame(start: int, first: int, stop: int) -> int:
    """The reference of the window starting at `start` in the segment [first, stop) at inference: half the
    segment away, wrapping round (at least REFERENCE_GAP frames from the window when the segment has
    2 · (WINDOW_FRAMES + REFERENCE_GAP) frames or more; the nearest frame outside the window otherwise)."""
    length = stop - first
    return first + (start - first + length // 2) % length


# ---------------------------------------------------------------- data


@dataclass
class Segment:
    """One face segment of a clip, held in memory: its crops (uint8) and the clip's Mel frames."""
    clip_id: str
    speaker: str
    first: int  # the segment's first frame
    windows: int  # windows that start in it with audio
    frames: np.ndarray  # the clip's crops, T × 48 × 96 × 3 uint8
    mel: np.ndarray  # the clip's log-Mel frames, M × 80 float32

    @property
    def stop(self) -> int:
        """One past the last frame the windows cover."""
        return self.first + self.windows + WINDOW_FRAMES - 1


def load_segments(manifest: str | Path, shards_dir: str | Path, shards: list[str], split: str) -> list[Segment]:
    """Every usable face segment of a split, its clip's crops and Mel frames read once."""
    visual, audio = open_shards(shards_dir, "rgb", shards), open_shards(shards_dir, "mel", shards)
    table = clip_table(manifest, [split], visual, audio, open_shards(shards_dir, "tracks", shards), "mel")
    if table.empty:
        raise ValueError(f"no usable clip in the {split} split")
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for row in table.itertuples(index=False):
        if row.clip_id not in cache:
            cache[row.clip_id] = (visual[row.shard].read(row.clip_id),
                                  np.asarray(audio[row.shard].read(row.clip_id), np.float32))
        frames, mel = cache[row.clip_id]
        out.append(Segment(row.clip_id, row.speaker, int(row.first_frame), int(row.windows), frames, mel))
    return out


def mel_window(segment: Segment, start: int) -> np.ndarray:
    mel_start, length, _ = audio_features("mel")
    a0 = mel_start(start)
    return segment.mel[a0:a0 + length]


class BatchSampler:
    """Training batches from a seed: window starts uniform over all windows of all segments, each with a
    reference frame of its segment at least REFERENCE_GAP frames from the window (Wav2Lip draws its
    reference likewise at random from the clip)."""

    def __init__(self, segments: list[Segment], seed: int):
        usable = [s for s in segments if s.stop - s.first >= WINDOW_FRAMES + REFERENCE_GAP + 1]
        if not usable:
            raise ValueError("no segment long enough for a window and a distant reference")
        self.segments = usable
        self.weights = np.array([s.windows for s in usable], np.float64)
        self.weights /= self.weights.sum()
        self.rng = np.random.default_rng(seed)

    def _reference(self, segment: Segment, start: int) -> int:
        allowed = [f for f in range(segment.first, segment.stop)
                   if f <= start - REFERENCE_GAP or f >= start + WINDOW_FRAMES - 1 + REFERENCE_GAP]
        if not allowed:  # a short segment: the frame farthest from the window
            allowed = [max(range(segment.first, segment.stop), key=lambda f: abs(f - start - 2))]
        return int(allowed[self.rng.integers(len(allowed))])

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """reference B × 48 × 96 × 3 uint8, target B × 5 × 48 × 96 × 3 uint8, Mel B × 16 × 80 float32."""
        refs, targets, mels = [], [], []
        for k in self.rng.choice(len(self.segments), size=size, p=self.weights):
            seg = self.segments[int(k)]
            start = seg.first + int(self.rng.integers(seg.windows))
            refs.append(seg.frames[self._reference(seg, start)])
            targets.append(seg.frames[start:start + WINDOW_FRAMES])
            mels.append(mel_window(seg, start))
        return (torch.from_numpy(np.stack(refs)), torch.from_numpy(np.stack(targets)),
                torch.from_numpy(np.stack(mels)))


# ---------------------------------------------------------------- training

LOG_COLUMNS = ["step", "l1", "sync_loss", "p_sync", "seconds"]


def train_generator(manifest: str | Path, shards_dir: str | Path, shards: list[str], expert: str | Path,
                    out: str | Path, settings: SyncLossSettings, weight: float, threads: int = 1,
                    split: str = "train") -> dict:
    """Train one arm (`weight` 0: L1 only; else (1 − weight) · L1 + weight · SyncLoss of the frozen
    `expert`) for settings.steps steps; writes `out` (the generator's checkpoint) and `out`'s
    training.csv beside it (L1, the expert's loss and mean p_sync every settings.log_every steps, for
    both arms: the L1 arm measures the sync it gets without being asked). Returns the checkpoint record."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    generator = MouthGenerator(MouthGeneratorConfig(width=settings.width))
    sync_loss = SyncLoss(expert, device=torch.device("cpu"))
    if tuple(sync_loss.expert.config.visual_frame[:2]) != generator.config.crop:
        raise ValueError(f"the expert takes {sync_loss.expert.config.visual_frame} windows, "
                         f"the generator draws {generator.config.crop}")
    sampler = BatchSampler(load_segments(manifest, shards_dir, shards, split), settings.seed)
    optimiser = torch.optim.Adam(generator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    rows, totals, started = [], np.zeros(3), time.process_time()
    generator.train()
    for step in range(1, settings.steps + 1):
        reference, target, mel = sampler.batch(settings.batch_size)
        faces = generator(reference, mel)
        l1 = F.l1_loss(faces, target.float() / 255.0)
        if weight > 0:
            p = sync_loss.p_sync(faces, mel)
            sync = F.binary_cross_entropy(p.clamp(0.0, 1.0), torch.ones_like(p))
            loss = (1 - weight) * l1 + weight * sync
        else:
            with torch.no_grad():
                p = sync_loss.p_sync(faces, mel)
                sync = F.binary_cross_entropy(p.clamp(0.0, 1.0), torch.ones_like(p))
            loss = l1
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        totals += [l1.item(), sync.item(), p.mean().item()]
        if step % settings.log_every == 0 or step == settings.steps:
            n = (step - 1) % settings.log_every + 1
            rows.append(dict(zip(LOG_COLUMNS, [step, *(totals / n).round(5).tolist(),
                                               round(time.process_time() - started, 1)])))
            log.info("step %d: L1 %.4f, sync loss %.4f, p_sync %.3f", step, *(totals / n))
            totals[:] = 0
    record = {"config": asdict(generator.config), "state_dict": generator.state_dict(), "weight": weight,
              "expert": str(expert), "settings": asdict(settings), "log": rows,
              "cpu_seconds": round(time.process_time() - started, 1)}
    out = Path(out)
    atomic_save(record, out)
    write_atomic(out.with_name("training.csv"), pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(index=False))
    return record


def load_generator(path: str | Path) -> tuple[MouthGenerator, dict]:
    """A generator saved by train_generator, in eval mode, with its record (weights-only load)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    config = dict(record["config"])
    config["crop"] = tuple(config["crop"])
    model = MouthGenerator(MouthGeneratorConfig(**config))
    model.load_state_dict(record["state_dict"])
    return model.eval(), record

