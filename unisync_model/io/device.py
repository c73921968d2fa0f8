"""The device every model runs on: cuda where there is one, else the CPU, chosen in one place so
that no caller assumes either."""
from __future__ import annotations

import torch


def pick_device() -> torch.device:
    """cuda where there is one, else the CPU; every caller takes the device from here, once."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
