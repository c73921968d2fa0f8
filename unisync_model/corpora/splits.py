"""Splits by speaker for corpora that have none: stable across runs and machines (a hash of the
speaker name, not a random draw), so adding speakers never moves the others."""
from __future__ import annotations

import zlib

DEFAULT_FRACTIONS = {"train": 0.9, "val": 0.05, "test": 0.05}


def split_of_speaker(speaker: str, fractions: dict[str, float] | None = None) -> str:
    fractions = fractions or DEFAULT_FRACTIONS
    total = sum(fractions.values())
    if total <= 0:
        raise ValueError(f"split fractions must add up to more than 0, got {fractions}")
    point = (zlib.crc32(speaker.encode()) % 10_000) / 10_000 * total
    for split, share in fractions.items():
        if point < share:
            return split
        point -= share
    return list(fractions)[-1]
