"""A matplotlib figure written as a PNG atomically (no display needed: the Agg backend)."""
from __future__ import annotations

import io
from pathlib import Path

from unisync_model.io.atomic_files import write_atomic


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path: str | Path, dpi: int = 120, layout: bool = True) -> None:
    """Lay out (unless the figure has its own layout engine, or `layout` is False: margins set by hand),
    render, write, and free the figure."""
    png = io.BytesIO()
    if layout and fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(png, format="png", dpi=dpi)
    if fig.canvas.manager is not None:  # made through pyplot, which holds on to it until closed
        pyplot().close(fig)
    write_atomic(path, png.getvalue())
