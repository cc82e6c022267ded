"""Accuracy of an artifact against the reference, on the same token ids.

All statistics are per predicted position: KL(reference || artifact) in nats,
top-1 agreement, perplexity of each on the true next token, and NMSE of logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgeslm.runners.judge import WindowStats, window_stats
from edgeslm.util import perplexity

__all__ = ["AccuracyAccumulator", "AccuracyStats", "WindowStats", "window_stats"]


@dataclass(frozen=True)
class AccuracyStats:
    positions: int
    mean_kl: float  # nats/token
    p99_kl: float
    top1_agreement: float  # 0..1
    ppl_reference: float
    ppl_artifact: float
    nmse: float | None  # sum (a - r)^2 / sum r^2 over all logits; None where only log-probs were compared (binary mode)
    max_abs_diff: float | None

    @property
    def ppl_ratio(self) -> float:
        return self.ppl_artifact / self.ppl_reference

    def to_dict(self) -> dict:
        return {**asdict(self), "ppl_ratio": self.ppl_ratio}


@dataclass
class AccuracyAccumulator:
    """Feed windows (``add`` logits here, or ``merge`` stats computed elsewhere); read ``result()``."""

    kl: list[float] = field(default_factory=list)
    agree: int = 0
    n: int = 0
    nll_ref: float = 0.0
    nll_art: float = 0.0
    n_targets: int = 0
    sq_err: float = 0.0
    sq_ref: float = 0.0
    max_abs: float = 0.0

    def add(self, ref: np.ndarray, art: np.ndarray, next_ids: np.ndarray) -> None:
        """ref, art: (T, V) logits; next_ids: (T-1,) the true next tokens. Raises ValueError on a shape mismatch."""
        self.merge(window_stats(ref, art, next_ids))

    def merge(self, w: WindowStats) -> None:
        self.kl.extend(w.kl)
        self.agree += w.agree
        self.n += w.positions
        self.nll_ref += w.nll_ref
        self.nll_art += w.nll_art
        self.n_targets += w.targets
        self.sq_err += w.sq_err
        self.sq_ref += w.sq_ref
        self.max_abs = max(self.max_abs, w.max_abs)

    def result(self) -> AccuracyStats:
        kl = np.asarray(self.kl)
        return AccuracyStats(
            positions=self.n,
            mean_kl=float(kl.mean()),
            p99_kl=float(np.quantile(kl, 0.99)),
            top1_agreement=self.agree / self.n,
            ppl_reference=perplexity(self.nll_ref / self.n_targets),
            ppl_artifact=perplexity(self.nll_art / self.n_targets),
            nmse=self.sq_err / max(self.sq_ref, 1e-30),
            max_abs_diff=self.max_abs,
        )
