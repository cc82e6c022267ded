"""Calibration as callables: algorithms get ``forward_loop(model)`` and ``loss(model)``, never files.

    calib = make_calibration(tokenizer, stdlib_corpus().splits["train"], n_samples=64, seq_len=256)
    scores = activation_importance(model, calib.forward_loop)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeslm.data import TextSet
from edgeslm.errors import DataError


@dataclass(frozen=True)
class Calibration:
    """Fixed token windows drawn once from a text set, with its provenance."""

    samples: np.ndarray  # (N, T) int64 token ids
    source: str
    sha256: str  # of the source text
    batch_size: int = 8

    def _batches(self):
        import torch

        for i in range(0, len(self.samples), self.batch_size):
            yield torch.from_numpy(self.samples[i : i + self.batch_size])

    def forward_loop(self, model) -> None:
        """Run every calibration batch through ``model`` (hooks collect what they need)."""
        import torch

        with torch.inference_mode():
            for b in self._batches():
                model(b, use_cache=False)

    def loss(self, model) -> float:
        """Mean next-token cross-entropy of ``model`` on the calibration windows, in nats."""
        import torch

        total, n = 0.0, 0
        with torch.inference_mode():
            for b in self._batches():
                logits = model(b, use_cache=False).logits[:, :-1]  # (B, T-1, V)
                total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), b[:, 1:].flatten(), reduction="sum"))
                n += b[:, 1:].numel()
        return total / n

    def to_dict(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "samples": int(self.samples.shape[0]),
                "seq_len": int(self.samples.shape[1])}


def make_calibration(tokenizer, text: TextSet, n_samples: int = 64, seq_len: int = 256, seed: int = 0) -> Calibration:
    """``n_samples`` windows of ``seq_len`` tokens at seeded random offsets of ``text``.

    Only the sampled stretches are tokenized (each starts at a line boundary), so
    a large corpus costs no more than a small one.
    Raises DataError when the text is shorter than one window.
    """
    chunk = seq_len * 12  # characters: comfortably more than seq_len tokens of code or prose
    t = text.text
    if len(t) <= 2 * chunk:
        ids = np.asarray(tokenizer.encode(t, add_special_tokens=False), dtype=np.int64)
        if len(ids) < seq_len + 1:
            raise DataError(f"{text.source} has {len(ids)} tokens; calibration needs at least {seq_len + 1}.")
        starts = np.random.default_rng(seed).integers(0, len(ids) - seq_len, size=n_samples)
        return Calibration(np.stack([ids[s : s + seq_len] for s in starts]), text.source, text.sha256)
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n_samples:
        s = int(rng.integers(0, len(t) - chunk))
        s = t.find("\n", s) + 1 or s  # start at a line boundary
        ids = tokenizer.encode(t[s : s + chunk], add_special_tokens=False)
        if len(ids) >= seq_len:
            rows.append(ids[:seq_len])
    return Calibration(np.asarray(rows, dtype=np.int64), text.source, text.sha256)
