"""A randomly initialised 3DDFA_V2 MobileNet and parameter statistics, saved in upstream's checkpoint
format (a dict with 'state_dict', keys prefixed 'module.') and as the .npz the project reads, so that
the tdmm stage runs through its real loading path (load_mobilenet, the resolver) where the real
weights (../shared/weights) are absent. Its outputs mean nothing; their shapes and the files are real.

The initialisation keeps the signal through the deep net (upstream's would make the output hardly
depend on the input), as tests/test_tdmm.py's random mb1 does."""
from __future__ import annotations

from pathlib import Path

WEIGHTS = "random_3ddfa_v2_mb05_120x120.pth"
MEAN_STD = "random_3ddfa_v2_param_mean_std_62d_120x120.npz"


def make_random_3ddfa(directory: str | Path, arch: str = "mb05", seed: int = 0) -> tuple[Path, Path]:
    """Write the checkpoint and the statistics into `directory` (created); their paths."""
    import numpy as np
    import torch

    from unisync_model.extract.mobilenet_3ddfa import WIDEN, MobileNet3DDFA, upstream_state_dict

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = MobileNet3DDFA(widen=WIDEN[arch]).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, (2 / module.weight[0].numel()) ** 0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.8, 1.2)
                module.bias.uniform_(-0.1, 0.1)
    weights, mean_std = directory / WEIGHTS.replace("mb05", arch), directory / MEAN_STD
    torch.save(upstream_state_dict(model), weights)
    np.savez(mean_std, mean=np.linspace(-1, 1, 62, dtype=np.float32), std=np.full(62, 0.5, np.float32))
    return weights, mean_std
