"""The device every model runs on: cuda where there is one, else the CPU, chosen in one place so
that no caller assumes either."""
from __future__ import annotations

import torch


def pick_device() -> torch.device:
    """cuda where there is one, else the CPU; every caller takes the device from here, once."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity: a SLURM job's allocation, a container's
    limit), at least 1."""
    import os
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
