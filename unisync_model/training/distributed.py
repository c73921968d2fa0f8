"""Training on several processes (one per GPU) with torch's DistributedDataParallel.

torchrun starts the processes and tells each who it is through the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT):

    torchrun --standalone --nproc_per_node 4 -m unisync_model.cli train …   # the same options as `unisync train`

Without those variables (plain `unisync train`) `setup` returns a one-process context and nothing
here touches torch.distributed. On cuda process k uses GPU k of its node and the processes talk
through NCCL; on the CPU through gloo (which is how the tests run two processes on one machine).

Batch normalisation: DDP averages gradients, but a BatchNorm layer still normalises with the
statistics of its own process's share of the batch, so with N processes each layer sees 1/N of the
pairs one process would see, and the loss differs. `sync_batchnorm` makes every layer use the
statistics of the whole global batch: torch's SyncBatchNorm on cuda (it accepts no CPU tensors),
`AllReduceBatchNorm` below elsewhere. Both give what one process computes on the whole batch.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from unisync_model.io.device import pick_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """Who this process is: rank `rank` of `world`, computing on `device`."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=pick_device)

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether torchrun (or another launcher that sets WORLD_SIZE) started more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup() -> Context:
    """Join the process group torchrun set up (NCCL on cuda, gloo on the CPU); a one-process
    context when there is none. Ranks other than 0 log warnings and errors only."""
    if not launched():
        return Context()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"process {rank} wants GPU {local_rank} but this node has "
                               f"{torch.cuda.device_count()}: use --nproc_per_node <= the GPU count")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    if rank != 0:
        logging.getLogger("unisync_model").setLevel(logging.WARNING)
    context = Context(rank, world, local_rank, device)
    log.info("process group: %d processes (%s) on %s", world, backend, device.type)
    return context


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    if context.distributed and context.device.type == "cuda":
        dist.barrier(device_ids=[context.device.index])
    elif context.distributed:
        dist.barrier()


def sum_over_ranks(values: list[float], context: Context) -> list[float]:
    """Element-wise sums of the same list of numbers over every process (float64)."""
    if not context.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(t)
    return t.tolist()


# ---------------------------------------------------------------- batch normalisation over the global batch

class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) that gradients flow through: every process's loss depends on the sum, so the
    gradient of an input is the sum of the gradients over processes (as torch's SyncBatchNorm does)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class AllReduceBatchNorm(_BatchNorm):
    """BatchNorm over the batch of every process, on any device (SyncBatchNorm takes GPU tensors
    only). Training mode: the mean, then the biased variance, each summed over processes (two small
    all-reduces per layer); the running statistics are updated with the unbiased global variance,
    as BatchNorm does. Evaluation mode: plain BatchNorm on the running statistics, no communication."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / max(x.shape[1], 1)], dtype=x.dtype, device=x.device)
        stats = _SumOverRanks.apply(torch.cat([x.sum(dims), count]))
        total = stats[-1].detach()
        mean = stats[:-1] / total
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply(centred.pow(2).sum(dims)) / total
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * total / (total - 1).clamp_min(1), factor)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm layer of `module` normalising over the global batch: torch's SyncBatchNorm on
    cuda, AllReduceBatchNorm elsewhere. Parameters and buffers are the same tensors (state dict keys
    unchanged), so checkpoints load into a plain model."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm) and not isinstance(module, AllReduceBatchNorm):
        bn = AllReduceBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        if module.affine:
            bn.weight, bn.bias = module.weight, module.bias
        if module.track_running_stats:
            bn.running_mean, bn.running_var = module.running_mean, module.running_var
            bn.num_batches_tracked = module.num_batches_tracked
        bn.train(module.training)
        return bn
    for name, child in module.named_children():
        module.add_module(name, sync_batchnorm(child, device))
    return module
