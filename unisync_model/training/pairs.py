"""Which audio window goes with which visual window: the sampler behind training and evaluation.

A plan is a table of pairs: the visual window (clip, start frame), the audio window (clip, start
frame, both in video frames), the label (1 synced, 0 not) and the negative's kind. Plans are made
from a seeded generator, so an epoch's pairs — and the evaluation's — can be recreated exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from unisync_model.settings import WINDOW_FRAMES, NegativeMix

POSITIVE, SAME_OVERLAP, SAME_NO_OVERLAP, CROSS_SPEAKER = 0, 1, 2, 3
KIND_NAMES = {POSITIVE: "positive", SAME_OVERLAP: "same_speaker_overlap",
              SAME_NO_OVERLAP: "same_speaker_no_overlap", CROSS_SPEAKER: "cross_speaker"}
MAX_OVERLAP_SHIFT = WINDOW_FRAMES - 1  # shifts 1..4 overlap the synced window; 5 or more do not


@dataclass(frozen=True)
class Plan:
    visual_clip: np.ndarray  # index into the clip table
    visual_start: np.ndarray
    audio_clip: np.ndarray
    audio_start: np.ndarray
    label: np.ndarray  # 1 synced, 0 unsynced
    kind: np.ndarray  # POSITIVE, SAME_OVERLAP, SAME_NO_OVERLAP or CROSS_SPEAKER

    def __len__(self) -> int:
        return len(self.label)


def _shifted_start(rng: np.random.Generator, start: int, windows: int, low: int, high: int) -> int:
    """A start s' != start with low <= |s' - start| <= high and 0 <= s' < windows; -1 if none exists."""
    candidates = np.r_[np.arange(start - high, start - low + 1), np.arange(start + low, start + high + 1)]
    candidates = candidates[(candidates >= 0) & (candidates < windows)]
    return int(rng.choice(candidates)) if len(candidates) else -1


class OtherSpeakers:
    """Draws a clip of another speaker than a given one, by windows, as numpy's
    `rng.choice(others, p=windows[others] / windows[others].sum())` draws it, draw for draw (one
    `rng.random()` against the others' cumulative windows; up to rounding right at a boundary), without the list of every other speaker's clips for each speaker,
    which took speakers × clips of memory (39 GB at 150,000 LRS2 clips: bench/RESULTS.md (i)). Holds
    each speaker's own clips instead (clips in all)."""

    def __init__(self, speakers: np.ndarray, windows: np.ndarray):
        self.cumulative = np.cumsum(windows)  # windows of clips 0..j
        order = np.argsort(speakers, kind="stable")
        names, first = np.unique(speakers[order], return_index=True)
        groups = np.split(order, first[1:])
        self.own = {name: (group, np.cumsum(windows[group])) for name, group in zip(names, groups)}

    def draw(self, rng: np.random.Generator, speaker) -> int:
        """The first clip where the other speakers' running windows exceed the drawn target: found by
        searching the whole table's running windows for the target plus the speaker's own windows up to
        the clip found, until that clip stops moving (it only moves forward, past the speaker's own
        windows, and never past the answer: one or two searches when the speaker is a small share)."""
        positions, own_cumulative = self.own[speaker]
        target = rng.random() * (self.cumulative[-1] - own_cumulative[-1])  # in the others' windows
        whole = int(target)  # running windows are integers: C > target + own ⇔ C > ⌊target⌋ + own, and an
        clip, own = 0, 0  # integer key keeps searchsorted from casting the whole table to float each time
        while True:
            found = int(np.searchsorted(self.cumulative, whole + own, side="right"))
            k = int(np.searchsorted(positions, found, side="right"))
            own_upto = int(own_cumulative[k - 1]) if k else 0  # the speaker's windows in clips 0..found
            if found == clip and own_upto == own:
                return clip
            clip, own = found, own_upto


def training_plan(clips: pd.DataFrame, n: int, rng: np.random.Generator, mix: NegativeMix,
                  positive_fraction: float = 0.5) -> Plan:
    """`clips` has columns speaker and windows (number of valid window starts). Visual windows are
    drawn uniformly over all windows; a negative of a kind that a clip cannot give (too short to
    shift) falls back to the next kind that it can."""
    windows = clips["windows"].to_numpy()
    speakers = clips["speaker"].to_numpy()
    if (windows <= 0).any():
        raise ValueError("every clip in a plan needs at least one window")
    other_speakers = OtherSpeakers(speakers, windows)
    several_speakers = len(other_speakers.own) > 1
    if mix.cross_speaker > 0 and not several_speakers:
        raise ValueError("cross-speaker negatives need clips of at least two speakers")
    weights = windows / windows.sum()
    v_clip = rng.choice(len(clips), size=n, p=weights)
    v_start = np.floor(rng.random(n) * windows[v_clip]).astype(np.int64)
    label = (rng.random(n) < positive_fraction).astype(np.int64)
    kind = np.where(label == 1, POSITIVE, rng.choice([SAME_OVERLAP, SAME_NO_OVERLAP, CROSS_SPEAKER], size=n,
                                                      p=mix.as_tuple()))
    a_clip, a_start = v_clip.copy(), v_start.copy()
    for i in np.flatnonzero(label == 0):
        c, s = v_clip[i], v_start[i]
        for k in (kind[i], SAME_NO_OVERLAP, SAME_OVERLAP, CROSS_SPEAKER):
            if k == SAME_OVERLAP:
                shifted = _shifted_start(rng, s, windows[c], 1, MAX_OVERLAP_SHIFT)
            elif k == SAME_NO_OVERLAP:
                shifted = _shifted_start(rng, s, windows[c], WINDOW_FRAMES, windows[c])
            elif several_speakers:
                a_clip[i] = other_speakers.draw(rng, speakers[c])
                a_start[i] = rng.integers(windows[a_clip[i]])
                kind[i] = CROSS_SPEAKER
                break
            else:
                continue
            if shifted >= 0:
                a_start[i], kind[i] = shifted, k
                break
        else:
            raise ValueError(f"clip {c} with {windows[c]} windows can give no negative")
    return Plan(v_clip, v_start, a_clip, a_start, label, kind)


def binary_protocol_plan(clips: pd.DataFrame, n: int, seed: int, min_shift: int) -> Plan:
    """The binary protocol: n pairs (half synced) from clips drawn uniformly by window; an unsynced
    pair takes the same clip's audio shifted by at least `min_shift` frames. Clips too short to
    shift that far give synced pairs only, so they are left out of the draw."""
    rng = np.random.default_rng(seed)
    usable = clips[clips["windows"] > min_shift].reset_index()
    if usable.empty:
        raise ValueError(f"no clip has more than {min_shift} windows for the binary protocol")
    windows = usable["windows"].to_numpy()
    rows = rng.choice(len(usable), size=n, p=windows / windows.sum())
    v_start = np.floor(rng.random(n) * windows[rows]).astype(np.int64)
    label = (np.arange(n) % 2 == 0).astype(np.int64)  # exactly balanced
    a_start = v_start.copy()
    for i in np.flatnonzero(label == 0):
        a_start[i] = _shifted_start(rng, v_start[i], windows[rows[i]], min_shift, windows[rows[i]])
    clip_index = usable["index"].to_numpy()[rows]
    kind = np.where(label == 1, POSITIVE, SAME_NO_OVERLAP)
    return Plan(clip_index, v_start, clip_index.copy(), a_start, label, kind)
