"""Accuracy of an artifact against the reference, on the same token ids.

All statistics are per predicted position: KL(reference || artifact) in nats,
top-1 agreement, perplexity of each on the true next token, and NMSE of logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@dataclass(frozen=True)
class AccuracyStats:
    positions: int
    mean_kl: float  # nats/token
    p99_kl: float
    top1_agreement: float  # 0..1
    ppl_reference: float
    ppl_artifact: float
    nmse: float  # sum (a - r)^2 / sum r^2 over all logits
    max_abs_diff: float

    @property
    def ppl_ratio(self) -> float:
        return self.ppl_artifact / self.ppl_reference

    def to_dict(self) -> dict:
        return {**asdict(self), "ppl_ratio": self.ppl_ratio}


@dataclass
class AccuracyAccumulator:
    """Feed windows of (reference logits, artifact logits, next-token ids); read ``result()``."""

    kl: list[np.ndarray] = field(default_factory=list)
    agree: int = 0
    n: int = 0
    nll_ref: float = 0.0
    nll_art: float = 0.0
    n_targets: int = 0
    sq_err: float = 0.0
    sq_ref: float = 0.0
    max_abs: float = 0.0

    def add(self, ref: np.ndarray, art: np.ndarray, next_ids: np.ndarray) -> None:
        """ref, art: (T, V) logits; next_ids: (T-1,) the true token after each of the first T-1 positions."""
        if ref.shape != art.shape:
            raise ValueError(f"logit shapes differ: reference {ref.shape}, artifact {art.shape}")
        lr, la = _log_softmax(ref), _log_softmax(art)  # (T, V)
        self.kl.append((np.exp(lr) * (lr - la)).sum(-1))  # (T,)
        self.agree += int((ref.argmax(-1) == art.argmax(-1)).sum())
        self.n += ref.shape[0]
        t = len(next_ids)
        idx = np.arange(t)
        self.nll_ref -= float(lr[idx, next_ids].sum())
        self.nll_art -= float(la[idx, next_ids].sum())
        self.n_targets += t
        d = art.astype(np.float64) - ref
        self.sq_err += float((d * d).sum())
        self.sq_ref += float((ref.astype(np.float64) ** 2).sum())
        self.max_abs = max(self.max_abs, float(np.abs(d).max()))

    def result(self) -> AccuracyStats:
        kl = np.concatenate(self.kl)
        return AccuracyStats(
            positions=self.n,
            mean_kl=float(kl.mean()),
            p99_kl=float(np.quantile(kl, 0.99)),
            top1_agreement=self.agree / self.n,
            ppl_reference=float(np.exp(self.nll_ref / self.n_targets)),
            ppl_artifact=float(np.exp(self.nll_art / self.n_targets)),
            nmse=self.sq_err / max(self.sq_ref, 1e-30),
            max_abs_diff=self.max_abs,
        )
