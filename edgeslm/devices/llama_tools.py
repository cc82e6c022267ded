"""llama.cpp's own tools on a device: the KL base file they read, and what they print.

``llama-perplexity --kl-divergence-base FILE --kl-divergence`` compares a model
with log-probabilities stored in FILE. edgeslm writes that file from the PyTorch
reference, with the reference's own token ids, in the layout
tools/perplexity/perplexity.cpp reads:

    "_logits_"  uint32 n_ctx  int32 n_vocab  int32 n_chunk  int32 tokens[n_chunk * n_ctx]
    per chunk, for positions n_ctx/2 .. n_ctx-2 (the scored second half), one row of
    nv = 2*((n_vocab+1)/2) + 4 uint16: float32 scale, float32 min_log_prob, then the
    log-probabilities quantized to uint16 over [max-16, max] of the logits.

The tool scores only the second half of each chunk and prints no summary below
100 scored tokens. ``llama-bench -o json`` gives speed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeslm.errors import DataError, DeviceError

MAGIC = b"_logits_"
MIN_SCORED = 100  # below this llama-perplexity prints no KL summary


def scored_positions(n_ctx: int) -> range:
    """The positions of a chunk whose logits llama-perplexity scores (each predicts the token after it)."""
    return range(n_ctx // 2, n_ctx - 1)


def row_bytes(n_vocab: int) -> int:
    return (2 * ((n_vocab + 1) // 2) + 4) * 2


def quantized_log_probs(logits: np.ndarray) -> np.ndarray:
    """(R, V) float32 logits -> (R, nv) uint16 rows exactly as llama.cpp's log_softmax stores them."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    r, v = logits.shape
    max_l = logits.max(-1)
    min_l = np.maximum(logits.min(-1), max_l - np.float32(16))
    sum_exp = np.exp((logits - max_l[:, None]).astype(np.float32)).astype(np.float64).sum(-1)
    log_sum_exp = np.log(sum_exp).astype(np.float32)
    min_log_prob = (min_l - max_l - log_sum_exp).astype(np.float32)
    scale = ((max_l - min_l) / np.float32(65535)).astype(np.float32)
    out = np.zeros((r, 2 * ((v + 1) // 2) + 4), dtype=np.uint16)
    head = np.stack([scale, min_log_prob], axis=1).astype(np.float32)
    out[:, :4] = head.view(np.uint16).reshape(r, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(scale > 0, np.float32(1) / scale, np.float32(0)).astype(np.float32)
        q = np.rint(inv[:, None] * (logits - min_l[:, None])).astype(np.int64)  # ties to even, as nearest_int
    q = np.where(logits > min_l[:, None], q, 0)
    out[:, 4 : 4 + v] = np.clip(q, 0, 65535).astype(np.uint16)
    return out


def write_kl_base(path: Path, chunks: Sequence[Sequence[int]], logits: Sequence[np.ndarray]) -> int:
    """Write llama-perplexity's KL base file for ``chunks`` (each n_ctx token ids) and their (n_ctx, V) reference
    logits. Returns the number of scored positions. Raises DataError below the tool's 100-token minimum."""
    n_ctx, n_vocab = len(chunks[0]), logits[0].shape[1]
    if any(len(c) != n_ctx for c in chunks):
        raise ValueError("every chunk must have n_ctx tokens")
    scored = len(chunks) * len(scored_positions(n_ctx))
    if scored < MIN_SCORED:
        raise DataError(f"binary mode scores {scored} tokens ({len(chunks)} chunks of {n_ctx}, second halves only); "
                        f"llama-perplexity prints nothing below {MIN_SCORED}.",
                        hint="give more evaluation text (--max-tokens, --data) or a longer --ctx")
    pos = scored_positions(n_ctx)
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(np.array([n_ctx], dtype=np.uint32).tobytes())
        f.write(np.array([n_vocab, len(chunks)], dtype=np.int32).tobytes())
        f.write(np.asarray(chunks, dtype=np.int32).tobytes())
        for lg in logits:
            f.write(quantized_log_probs(lg[pos.start : pos.stop]).tobytes())
    return scored


_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"


def parse_kl_output(text: str) -> dict:
    """The KL summary llama-perplexity prints: mean/percentile KLD, PPLs and same-top-p (a fraction, 0..1).

    Raises DeviceError when the summary is missing (the tool failed, or scored fewer than 100 tokens)."""
    def grab(label: str) -> float | None:
        m = re.search(rf"^\s*{label}\s*:\s*{_FLOAT}", text, re.M)
        return float(m.group(1)) if m else None

    out = {
        "mean_kld": grab(r"Mean\s+KLD"), "max_kld": grab(r"Maximum KLD"), "p99_kld": grab(r"99\.0%\s+KLD"),
        "p99_9_kld": grab(r"99\.9%\s+KLD"), "p95_kld": grab(r"95\.0%\s+KLD"), "median_kld": grab(r"Median\s+KLD"),
        "ppl_q": grab(r"Mean PPL\(Q\)"), "ppl_base": grab(r"Mean PPL\(base\)"),
        "same_top_p": grab(r"Same top p"),
    }
    if out["mean_kld"] is None or out["same_top_p"] is None:
        tail = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
        raise DeviceError(f"llama-perplexity printed no KL summary (last lines: {tail or 'none'}).",
                          hint="the tool needs at least 100 scored tokens and the model's vocabulary in the base file")
    out["same_top_p"] /= 100.0
    return out


def parse_bench_json(text: str) -> dict:
    """llama-bench -o json -> {"prefill": (avg t/s, stddev), "decode": (avg, stddev), "build": commit, "cpu": info}.

    Unknown keys are ignored: the field set changes between builds. Raises DeviceError when no test is found."""
    start = text.find("[")
    try:
        tests = json.loads(text[start:]) if start >= 0 else []
    except json.JSONDecodeError as e:
        raise DeviceError(f"llama-bench did not print JSON ({e}).") from None
    out: dict = {}
    for t in tests:
        if not isinstance(t, dict) or "avg_ts" not in t:
            continue
        kind = "prefill" if t.get("n_prompt", 0) > 0 and t.get("n_gen", 0) == 0 else \
            "decode" if t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0 else None
        if kind:
            out[kind] = (float(t["avg_ts"]), float(t.get("stddev_ts", 0.0)))
            out["build"] = t.get("build_commit")
            out["cpu"] = t.get("cpu_info")
    if "decode" not in out or "prefill" not in out:
        raise DeviceError("llama-bench printed no prompt (pp) and generation (tg) results.")
    return out
