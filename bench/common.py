"""What every benchmark shares: the machine it ran on, a printed table, and its section of RESULTS.md.

Each benchmark owns one section of bench/RESULTS.md, between `<!-- bench:NAME -->` markers; a new
run replaces that section (the file holds the latest figures of each benchmark, not a history).
The machine is recorded with every section, load average included: the 2-core machine these were
measured on is shared with other jobs, and a loaded CPU makes every figure smaller.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
SHARED = REPO.parent / "shared"
REAL_CLIPS = SHARED / "data" / "clips" / "real"
HEADER = ("# Benchmark results\n\nWritten by the scripts in this folder (see README.md); each run replaces its "
          "own section.\n")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """CPU cores this process may run on (the affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    import torch
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "cores": str(cores()), "python": platform.python_version(), "torch": torch.__version__,
            "load average (1, 5, 15 min) at start": load_average()}


def machine_line(info: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in info.items())


def table(rows: list[dict], floatfmt: str = ".1f") -> str:
    """A GitHub-flavoured markdown table, printed as is and pasted into RESULTS.md."""
    return tabulate(rows, headers="keys", tablefmt="github", floatfmt=floatfmt)


def verdict(value: float, target: float, unit: str) -> str:
    return f"{'MET' if value >= target else 'MISSED'}: {value:,.1f} {unit} (target ≥ {target:,.0f})"


def write_section(name: str, title: str, body: str, info: dict[str, str]) -> None:
    """Replace (or append) benchmark `name`'s section of RESULTS.md."""
    command = f".venv/bin/python bench/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}".strip()
    info = {**info, "load average (1, 5, 15 min) at end": load_average()}
    section = (f"<!-- bench:{name} -->\n## {title}\n\n`{command}` — {machine_line(info)}\n\n"
               f"{body.strip()}\n<!-- /bench:{name} -->\n")
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    tmp = RESULTS.with_name(RESULTS.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS)
    print(f"\nwritten to {RESULTS.relative_to(REPO)} (section {name})")


def require_real_clips() -> Path:
    """The real clips beside the project, or exit with a message saying where they should be."""
    if not REAL_CLIPS.is_dir() or not any(REAL_CLIPS.iterdir()):
        sys.exit(f"this benchmark needs the real clips in {REAL_CLIPS} (the project's ../shared folder); "
                 "it is absent here")
    return REAL_CLIPS


def offline_weights() -> None:
    """Point the weights resolver at ../shared/weights when it is there, as the Makefile does."""
    if "UNISYNC_WEIGHTS" not in os.environ and (SHARED / "weights").is_dir():
        os.environ["UNISYNC_WEIGHTS"] = str(SHARED / "weights")


def real_clip_videos() -> list[Path]:
    """Set up a benchmark on the real clips (quiet logging, offline weights) and list their videos,
    or exit with a message where they are absent."""
    logging.basicConfig(level=logging.WARNING)
    offline_weights()
    os.environ.setdefault("UNISYNC_OFFLINE", "1")
    real = require_real_clips()
    from unisync_model.io.media import VIDEO_EXTENSIONS
    return sorted(p for p in real.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)


# Linux hands a process that execs the peak RSS of the one it replaces: started from a benchmark (torch
# imported, say), a child's ru_maxrss would start near the benchmark's. A small Python in between starts
# it and reports its rusage (as /usr/bin/time -v does).
LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, s, u = os.wait4(p.pid, 0); "
            "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {os.waitstatus_to_exitcode(s)}')")


def run_alone(command: list[str], log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of a command run in its own process from the project's
    root, its output to `log`."""
    usage = log.with_suffix(".rusage")
    with open(log, "w") as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", LAUNCHER, str(usage), *command], stdout=out, stderr=subprocess.STDOUT,
                       cwd=REPO, check=True)
        wall = time.perf_counter() - start
    rss_kb, status = map(int, usage.read_text().split())
    return wall, rss_kb / 1024, status
