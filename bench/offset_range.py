"""(e2) The cost of the offset search against its range (issue 19: ±3 s at one-frame precision).

`unisync score` compares every window's visual embedding with the audio embedding at each shift in
−max_offset…+max_offset (model/lse.distances, then the gated curves and the offsets over time of
scoring/over_time.py), so its cost should grow linearly with the range. This times that search alone
on one minute of embeddings (1,500 windows at 25 fps) for the three scorers' embedding sizes (training-free
15 values a window, UniSync 512, SyncNet 1024), at ±15 (the default), ±30, ±75 (3 s) and ±150, five runs
each (the median), and the whole `unisync score` command on the LRS2-sized real clips at ±15 and with
`--max-offset 3s`.

Target: time per shift at ±75 no more than 1.5 × that at ±15 (linear, with slack for fixed costs).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, machine, real_clip_videos, run_alone, table, write_section

sys.path.insert(0, str(REPO))
from unisync_model.model.lse import distances, gated_curve, pair_mask
from unisync_model.scoring.over_time import over_time
from unisync_model.settings import OverTimeSettings

WINDOWS = 1500  # one minute of windows
SIZES = {"training-free (15)": 15, "unisync (512)": 512, "syncnet (1024)": 1024}
RANGES = (15, 30, 75, 150)
RUNS = 5


def search_seconds(dim: int, vshift: int) -> float:
    """The median time of one segment's search over ±vshift (distances, mask, curve, offsets over time)."""
    rng = np.random.default_rng(0)
    visual, audio = rng.standard_normal((2, WINDOWS, dim)).astype(np.float32)
    speech = rng.random(WINDOWS) > 0.2
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        dists = distances(visual, audio, vshift, normalise=True)
        mask = pair_mask(WINDOWS, vshift, speech)
        gated_curve(dists, mask, vshift).best()
        over_time(dists, mask, vshift, 0, 5, OverTimeSettings())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    info = machine()
    rows = []
    for name, dim in SIZES.items():
        base = None
        for vshift in RANGES:
            seconds = search_seconds(dim, vshift)
            per_shift = seconds / (2 * vshift + 1)
            base = base or per_shift
            rows.append({"scorer (values a window)": name, "range (frames)": f"±{vshift}",
                         "ms per minute of video": 1000 * seconds, "µs per shift": 1e6 * per_shift,
                         "per shift / at ±15": per_shift / base})
    print(table(rows, ".2f"))
    worst = max(r["per shift / at ±15"] for r in rows if r["range (frames)"] == "±75")
    verdict = f"{'MET' if worst <= 1.5 else 'MISSED'}: at ±75 a shift costs {worst:.2f} × what it costs at ±15"

    videos = [v for v in real_clip_videos() if v.name.startswith("lrs2_")]
    command_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("±15 (default)", []), ("±75 (--max-offset 3s)", ["--max-offset", "3s"])):
            walls = []
            for run in range(3):
                wall, peak_mb, _ = run_alone([str(REPO / ".venv/bin/unisync"), "-q", "score", *map(str, videos),
                                          "--out-dir", f"{tmp}/{run}", "--jobs", "1", *extra], Path(tmp) / "log")
                walls.append((wall, peak_mb))
            wall, peak_mb = sorted(walls)[1]
            command_rows.append({"range": label, "videos": len(videos), "wall s (median of 3)": wall,
                                 "peak MB": peak_mb})
    print(table(command_rows, ".2f"))
    body = (f"The search alone, {WINDOWS} windows (a minute of video), random embeddings (the cost does not "
            f"depend on their values), {RUNS} runs, the median:\n\n{table(rows, '.2f')}\n\n**Target** a shift at "
            f"±75 costs at most 1.5 × a shift at ±15 — {verdict}.\n\nThe whole command on the LRS2-sized real "
            f"clips (one job; decoding, tracking and landmarks dominate):\n\n{table(command_rows, '.2f')}\n")
    write_section("offset_range", "(e2) The offset search's cost against its range", body, info)


if __name__ == "__main__":
    main()
