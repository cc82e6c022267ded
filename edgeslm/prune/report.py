"""Before/after numbers for a pruned model, and the pruning record written beside it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeslm.calibrate import Calibration
from edgeslm.models.spec import ModelSpec
from edgeslm.prune.plan import PrunePlan
from edgeslm.util import perplexity


@torch.inference_mode()
def compare(source, pruned, windows: Calibration) -> dict[str, float]:
    """Perplexity of both models and mean KL(source || pruned) per token on ``windows``."""
    nll_s = nll_p = kl = 0.0
    n = 0
    for b in windows._batches():
        ls = torch.log_softmax(source(b, use_cache=False).logits.float(), -1)  # (B, T, V)
        lp = torch.log_softmax(pruned(b, use_cache=False).logits.float(), -1)
        tgt = b[:, 1:].unsqueeze(-1)
        nll_s -= float(ls[:, :-1].gather(-1, tgt).sum())
        nll_p -= float(lp[:, :-1].gather(-1, tgt).sum())
        kl += float((ls.exp() * (ls - lp)).sum(-1)[:, :-1].sum())
        n += tgt.numel()
    return {"ppl_source": perplexity(nll_s / n), "ppl_pruned": perplexity(nll_p / n), "mean_kl": kl / n, "tokens": n}


def size_table(spec: ModelSpec) -> dict[str, Any]:
    """Parameters per part and expected GGUF size per quant type for a spec."""
    from edgeslm.quantize.gguf import GGUF_QUANTS

    counts = spec.param_counts()
    sizes = {}
    for q in GGUF_QUANTS.values():
        # 2-D weights at the quant's bits/weight; norms stay F32
        weights = spec.num_params - counts["norms"]
        sizes[q.name] = (weights * q.bits_per_weight / 8 + counts["norms"] * 4) / (1 << 20)
    return {"params": {**counts, "total": spec.num_params}, "gguf_mib": sizes}


def plan_rows(base: ModelSpec, plan: PrunePlan) -> list[tuple[str, str, str]]:
    new = plan.spec(base)
    rows = [
        ("layers", str(base.num_layers), str(new.num_layers) + (f" {list(plan.layers)}" if plan.layers else "")),
        ("hidden", str(base.hidden_size), str(new.hidden_size)),
        ("ffn", str(base.intermediate_size), str(new.intermediate_size)),
        ("heads", str(base.num_heads), str(new.num_heads)),
        ("kv heads", str(base.num_kv_heads), str(new.num_kv_heads)),
    ]
    a, b = size_table(base), size_table(new)
    for part in ("embeddings", "attention", "mlp", "norms", "head", "total"):
        rows.append((f"params {part}", f"{a['params'][part]:,}", f"{b['params'][part]:,}"))
    for q in ("F16", "Q8_0", "Q4_K_M", "Q4_0"):
        rows.append((f"~MiB {q}", f"{a['gguf_mib'][q]:.1f}", f"{b['gguf_mib'][q]:.1f}"))
    return rows


def rounded(x: torch.Tensor) -> list:
    return np.round(x.double().numpy(), 6).tolist()
