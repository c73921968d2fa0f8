"""Progress bars that suit both a terminal and a rule's log file (updated every 10 s there, so
logs stay readable)."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], **kwargs) -> Iterable[T]:
    interactive = sys.stderr.isatty()
    return tqdm(items, mininterval=0.1 if interactive else 10.0, dynamic_ncols=interactive, **kwargs)
