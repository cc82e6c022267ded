"""Structured pruning: remove layers, attention heads/KV groups, MLP and hidden channels.

    calib = make_calibration(tok, corpus.splits["train"])
    result = prune(loaded.model, resolve(PruneRequest(ffn_dim=768), loaded.spec), calib.forward_loop, calib.loss)
    result.model  # a smaller transformers model whose tensors really have the new shapes

Importance comes from activations on calibration data (see importance.py);
``forward_loop`` and ``loss`` are callables, so the algorithm never reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from edgeslm.prune.apply import Keep, choose, slice_model
from edgeslm.prune.importance import Importance, activation_importance, block_influence, loss_increase
from edgeslm.prune.plan import PrunePlan, PruneRequest, plan_for_budget, resolve

__all__ = ["PruneRequest", "PrunePlan", "PruneResult", "Scores", "score", "prune", "resolve", "plan_for_budget", "LAYER_METRICS"]

# --layer-metric name -> scorer(model, forward_loop, loss) -> (L,) importance
LAYER_METRICS: dict[str, Callable] = {
    "block-influence": lambda model, fl, loss: block_influence(model, fl),
    "perplexity": lambda model, fl, loss: loss_increase(model, loss),
}


@dataclass(frozen=True)
class Scores:
    """Importance of every structure of one model, measured once on calibration data."""

    importance: Importance
    layers: torch.Tensor  # (L,) higher = more important
    layer_metric: str


@dataclass(frozen=True)
class PruneResult:
    model: torch.nn.Module
    plan: PrunePlan
    keep: Keep
    importance: Importance
    layer_scores: torch.Tensor  # (L,)
    layer_metric: str


def score(model, forward_loop, loss=None, *, layer_metric: str = "block-influence", layers: bool = True) -> Scores:
    """Activation importance of channels and heads, and (with ``layers``) of each block by ``layer_metric``.

    Raises UsageError for an unknown metric, or "perplexity" without ``loss``.
    """
    from edgeslm.errors import UsageError

    if layer_metric not in LAYER_METRICS:
        raise UsageError(f"unknown layer metric {layer_metric!r}; choose one of {', '.join(LAYER_METRICS)}")
    if layer_metric == "perplexity" and loss is None:
        raise UsageError("the perplexity layer metric needs a loss callable")
    model.eval()
    imp = activation_importance(model, forward_loop)
    n = model.config.num_hidden_layers
    return Scores(imp, LAYER_METRICS[layer_metric](model, forward_loop, loss) if layers else torch.ones(n), layer_metric)


def prune(model, plan: PrunePlan, forward_loop, loss=None, *, layer_metric: str = "block-influence",
          random_seed: int | None = None, scores: Scores | None = None) -> PruneResult:
    """Score structures on calibration data (unless ``scores`` are given) and cut ``model`` down to ``plan``.

    ``random_seed`` replaces every importance score by a random one: the
    baseline that importance-based selection is measured against.
    """
    if scores is None:
        needs_layer_scores = plan.layers is None and plan.num_layers < model.config.num_hidden_layers
        scores = score(model, forward_loop, loss, layer_metric=layer_metric, layers=needs_layer_scores)
    gen = torch.Generator().manual_seed(random_seed) if random_seed is not None else None
    keep = choose(plan, scores.importance, scores.layers, model.config, generator=gen)
    return PruneResult(slice_model(model, plan, keep), plan, keep, scores.importance, scores.layers, scores.layer_metric)


def single_part_plans(plan: PrunePlan, base) -> dict[str, PrunePlan]:
    """One plan per pruned part (depth, mlp, heads, hidden), each with only that part pruned."""
    full = PrunePlan(base.num_layers, None, base.intermediate_size, base.num_heads, base.num_kv_heads, base.hidden_size)
    parts = {
        "depth": replace(full, num_layers=plan.num_layers, layers=plan.layers),
        "mlp": replace(full, ffn_dim=plan.ffn_dim),
        "heads": replace(full, num_heads=plan.num_heads, num_kv_heads=plan.num_kv_heads),
        "hidden": replace(full, hidden_size=plan.hidden_size),
    }
    return {k: p for k, p in parts.items() if not p.is_identity(base)}
