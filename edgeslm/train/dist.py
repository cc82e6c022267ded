"""torch.distributed for the training loop: one process per device, started by torchrun.

    torchrun --nproc-per-node 2 -m edgeslm distill ...          # data-parallel (DDP)
    torchrun --nproc-per-node 2 -m edgeslm distill --fsdp ...   # parameters sharded (FSDP2)

Every rank sees the same global batch per step and takes its own rows, so the
mean gradient, and so the run, is the single-process run's up to float
reassociation. Rank 0 alone writes checkpoints, logs and the progress bar.
CPUs talk over gloo, GPUs over NCCL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from edgeslm.errors import UsageError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: str = "cpu"
    fsdp: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def rows(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` rows; raises UsageError when they do not split evenly."""
        if n % self.world:
            raise UsageError(f"{n} sequences per micro-batch do not split over {self.world} processes.",
                             hint="make --batch-size a multiple of --grad-accum x nproc-per-node")
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def mean(self, x: float) -> float:
        if not self.active:
            return x
        t = torch.tensor([x], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t) / self.world

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        if not self.active:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return dict(zip(keys, t.tolist()))

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def from_env(fsdp: bool = False) -> Dist:
    """The process group torchrun describes in WORLD_SIZE/RANK/LOCAL_RANK, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        if fsdp:
            raise UsageError("--fsdp shards over several processes; start the command with torchrun.",
                             hint="torchrun --nproc-per-node 2 -m edgeslm distill --fsdp ...")
        return Dist()
    import torch.distributed as td

    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not td.is_initialized():
        td.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
    return Dist(rank=td.get_rank(), world=td.get_world_size(), device=f"cuda:{local}" if cuda else "cpu", fsdp=fsdp)


def wrap(model: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """DDP (replicas; rank 0's weights are broadcast) or FSDP2 (each block's parameters sharded)."""
    model.to(dist.device)
    if not dist.active:
        return model
    if dist.fsdp:
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)
