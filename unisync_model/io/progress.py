"""Progress bars that suit both a terminal and a rule's log file (updated every 10 s there, so
logs stay readable), hidden when logging is quieter than INFO (`unisync -q`)."""
from __future__ import annotations

import logging
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T] | None = None, **kwargs) -> tqdm:
    """tqdm over `items` (or a bar to update by hand, with `total`)."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("disable", logging.getLogger().getEffectiveLevel() > logging.INFO)
    return tqdm(items, mininterval=0.1 if interactive else 10.0, dynamic_ncols=interactive, **kwargs)


def write_line(text: str) -> None:
    """A result line on stdout that does not break a progress bar drawn on the terminal."""
    tqdm.write(text, file=sys.stdout)
