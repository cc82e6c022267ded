"""One window of a runtime's logits judged against the reference's: the statistics verify accumulates.

Here, not in edgeslm.verify, because the runtime process computes them too:
on a device the agent (devices/agent.py) judges each window where the
artifact runs and sends back only this, never full logits. numpy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@dataclass(frozen=True)
class WindowStats:
    """What one window contributes to the accuracy statistics: small, so it crosses a link to a device.

    ``kl`` is per position (T,), nats; the rest are sums over the window. The
    device computes it where the artifact runs (runners/worker.py's "compare")
    and the host merges it, so full logits never leave the device.
    """

    kl: tuple[float, ...]
    agree: int
    positions: int
    nll_ref: float
    nll_art: float
    targets: int
    sq_err: float
    sq_ref: float
    max_abs: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WindowStats":
        return cls(**{**d, "kl": tuple(d["kl"])})


def window_stats(ref: np.ndarray, art: np.ndarray, next_ids: np.ndarray) -> WindowStats:
    """ref, art: (T, V) logits; next_ids: (T-1,) the true token after each of the first T-1 positions.

    Raises ValueError when the shapes differ."""
    if ref.shape != art.shape:
        raise ValueError(f"logit shapes differ: reference {ref.shape}, artifact {art.shape}")
    lr, la = _log_softmax(ref), _log_softmax(art)  # (T, V)
    t = len(next_ids)
    idx = np.arange(t)
    d = art.astype(np.float64) - ref
    return WindowStats(
        kl=tuple((np.exp(lr) * (lr - la)).sum(-1).tolist()),
        agree=int((ref.argmax(-1) == art.argmax(-1)).sum()),
        positions=ref.shape[0],
        nll_ref=-float(lr[idx, next_ids].sum()),
        nll_art=-float(la[idx, next_ids].sum()),
        targets=t,
        sq_err=float((d * d).sum()),
        sq_ref=float((ref.astype(np.float64) ** 2).sum()),
        max_abs=float(np.abs(d).max()),
    )


