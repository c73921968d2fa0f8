"""The device every model runs on: cuda where there is one, else the CPU, chosen in one place so
that no caller assumes either; and the cores a process may use. torch is imported only to pick a
device, so that what runs no model (the training-free scorer) never loads it (~2 s and 700 MB)."""
from __future__ import annotations

import os


def pick_device():
    """cuda where there is one, else the CPU (a torch.device); every caller takes the device from here, once."""
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity: a SLURM job's allocation, a container's
    limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
