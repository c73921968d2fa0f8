"""The demo corpus's cast: which speakers there are, in which split, and how each one sounds and looks
(espeak-ng voice, pitch and speed; the photo's mirror, colours, scale, rotation and position)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_SPEAKERS = {"train": 6, "val": 1, "test": 1}

VOICES = [
    ("en-us", "en"), ("en-gb", "en"), ("en-gb-scotland", "en"), ("en-gb-x-rp", "en"), ("en-us-nyc", "en"),
    ("en-029", "en"), ("de", "de"), ("fr-fr", "fr"), ("es", "es"), ("it", "it"), ("pt", "pt"), ("nl", "nl"),
    ("pl", "pl"), ("sv", "sv"), ("cs", "cs"), ("fi", "fi"), ("da", "da"), ("ro", "ro"),
]
VARIANTS = ["", "+f1", "+f2", "+f3", "+f4", "+f5", "+m1", "+m3"]


@dataclass(frozen=True)
class Speaker:
    video_id: str
    split: str
    voice: str  # espeak-ng voice with variant, e.g. "de+f3"
    language: str
    pitch: int  # espeak-ng -p, 0-99
    speed: int  # espeak-ng -s, words per minute
    mirror: bool
    hue: int  # OpenCV hue shift (hue is 0-179)
    saturation: float
    brightness: float
    background: tuple[int, int, int]  # RGB tint of the backdrop
    background_strength: float
    scale: float  # >1: the face fills more of the frame
    rotation: float  # degrees, counter-clockwise
    shift: tuple[float, float]  # crop centre offset, as a fraction of the crop side

    def face_description(self) -> str:
        return (f"mirror={'yes' if self.mirror else 'no'} hue{self.hue:+d} saturation x{self.saturation:.2f} "
                f"brightness x{self.brightness:.2f} backdrop rgb{self.background} ({self.background_strength:.0%}) "
                f"scale x{self.scale:.2f} rotation {self.rotation:+.1f} deg "
                f"shift ({self.shift[0]:+.3f}, {self.shift[1]:+.3f})")



def check_split_speakers(speakers: int, split_speakers: dict[str, int]) -> None:
    unknown = sorted(set(split_speakers) - set(SPLITS))
    if unknown:
        raise ValueError(f"split_speakers has unknown splits {unknown}; the splits are {list(SPLITS)}")
    if any(int(n) != n or n < 0 for n in split_speakers.values()):
        raise ValueError(f"split_speakers {split_speakers} must give a whole, non-negative number of speakers")
    total = sum(split_speakers.values())
    if total != speakers:
        raise ValueError(f"split_speakers {split_speakers} add up to {total} speakers, not to the "
                         f"{speakers} speakers asked for")


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one part of a corpus (keys: 0 the cast, 1 a speaker, 2 a clip), from the seed."""
    return np.random.default_rng([seed % 2 ** 63, *keys])


def make_speakers(count: int, split_speakers: dict[str, int], seed: int) -> list[Speaker]:
    """The cast: demo_spk00, 01, ... assigned to train, then val, then test, each with its own voice and face."""
    check_split_speakers(count, split_speakers)
    splits = [split for split in SPLITS for _ in range(split_speakers.get(split, 0))]
    rng = seeded_rng(seed, 0)
    voices = [VOICES[i] for i in rng.permutation(len(VOICES))]
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    cast = []
    for k in range(count):
        voice, language = voices[k % len(voices)]
        r = seeded_rng(seed, 1, k)
        tint = cv2.cvtColor(np.uint8([[[r.integers(0, 180), r.integers(60, 200), r.integers(150, 230)]]]),
                            cv2.COLOR_HSV2RGB)[0, 0]
        cast.append(Speaker(
            video_id=f"demo_spk{k:02d}", split=splits[k], voice=voice + variants[k % len(variants)],
            language=language, pitch=int(r.integers(20, 81)), speed=int(r.integers(140, 191)),
            mirror=bool(r.integers(0, 2)),
            hue=int(r.integers(-3, 4)), saturation=float(r.uniform(0.75, 1.25)),
            brightness=float(r.uniform(0.82, 1.12)), background=tuple(int(c) for c in tint),
            background_strength=float(r.uniform(0.35, 0.8)), scale=float(r.uniform(0.9, 1.15)),
            rotation=float(r.uniform(-6, 6)), shift=(float(r.uniform(-0.05, 0.05)), float(r.uniform(-0.04, 0.04)))))
    return cast

