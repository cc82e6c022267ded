"""Where batches come from: each is a pure function of the step, so --resume is exact.

A Batch maps names to tensors with the batch on dim 0; "tokens" is (B, T+1)
(inputs are [:, :-1], next-token targets [:, 1:]). A teacher cache adds its
top-k targets under more names, and the loop slices every entry alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from edgeslm.errors import UsageError

if TYPE_CHECKING:
    from edgeslm.train.loop import TrainConfig

Batch = dict[str, torch.Tensor]


def batch_at(tokens: np.ndarray, step: int, cfg: TrainConfig) -> torch.Tensor:
    """(B, T+1) windows of ``tokens`` for ``step``; a pure function of (seed, step)."""
    rng = np.random.default_rng([cfg.seed, step])
    starts = rng.integers(0, len(tokens) - cfg.seq_len - 1, size=cfg.batch_size)
    return torch.from_numpy(np.stack([tokens[s : s + cfg.seq_len + 1] for s in starts]).astype(np.int64))


@dataclass(frozen=True)
class TokenWindows:
    """Random windows of one token stream: the usual pre-training batches."""

    tokens: np.ndarray
    cfg: TrainConfig

    def __post_init__(self) -> None:
        if len(self.tokens) < self.cfg.seq_len + 2:
            raise UsageError(f"training data has {len(self.tokens)} tokens; --seq-len {self.cfg.seq_len} needs at least "
                             f"{self.cfg.seq_len + 2}.", hint="give more text with --data, or lower --seq-len")

    def __call__(self, step: int) -> Batch:
        return {"tokens": batch_at(self.tokens, step, self.cfg)}


def window_starts(n_tokens: int, seq_len: int, count: int | None = None, seed: int | None = None) -> np.ndarray:
    """Starts of non-overlapping (T+1)-token windows (each shares one token with the next).

    All of them in order, or ``count`` of them drawn without replacement by ``seed``
    (so a sample spreads over the whole stream, not just its beginning)."""
    starts = np.arange(0, n_tokens - seq_len, seq_len)
    if count is not None and count < len(starts):
        starts = np.sort(np.random.default_rng(seed).choice(starts, size=count, replace=False))
    return starts


def eval_windows(tokens: np.ndarray, seq_len: int, count: int) -> torch.Tensor:
    """The first ``count`` non-overlapping (T+1)-token windows of ``tokens``: (N, T+1)."""
    n = seq_len + 1
    starts = list(range(0, len(tokens) - n + 1, n))[:count]
    return torch.from_numpy(np.stack([tokens[s : s + n] for s in starts]).astype(np.int64))


@dataclass(frozen=True)
class WindowSet:
    """A fixed set of windows, visited in a fresh seeded order each epoch.

    Distillation uses it, online or from a teacher cache, so that both see the
    same sequences in the same order and differ only in their targets.
    ``arrays`` are indexed by window on dim 0 (numpy or memory-mapped)."""

    arrays: dict  # name -> (M, ...) array
    batch_size: int
    seed: int

    @property
    def size(self) -> int:
        return len(next(iter(self.arrays.values())))

    def rows(self, step: int) -> np.ndarray:
        """Window indices of ``step``'s batch: (B,)."""
        m, b = self.size, self.batch_size
        out = []
        for i in range(step * b, (step + 1) * b):
            epoch, j = divmod(i, m)
            out.append(_permutation(self.seed, epoch, m)[j])
        return np.asarray(out)

    def __call__(self, step: int) -> Batch:
        r = self.rows(step)
        return {k: torch.from_numpy(np.asarray(v[r]).astype(_TORCH_SAFE.get(v.dtype.str, v.dtype)))
                for k, v in self.arrays.items()}


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, m: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(m)


# numpy dtypes torch cannot hold, widened on the way in
_TORCH_SAFE = {"<u2": np.int64, "<u4": np.int64, "<i4": np.int64, "<f2": np.float32}


