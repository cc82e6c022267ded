"""Importance of structures, measured on calibration data (Minitron's activation recipe).

* MLP channels: mean |activation| at the input of down_proj, act(gate) * up.   (L, F)
* attention heads: mean L2 norm of each head's output at the input of o_proj.   (L, H)
* hidden channels: mean |x| of every RMSNorm output, summed over the norms.     (D,)
* layers: block influence, 1 - cos(input, output) of each decoder block (ShortGPT),
  or the calibration-loss increase when the block is skipped.

Each function takes ``forward_loop(model)``; none reads data itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

ForwardLoop = Callable[[torch.nn.Module], None]
LossFn = Callable[[torch.nn.Module], float]


@dataclass(frozen=True)
class Importance:
    mlp: torch.Tensor  # (L, F)
    heads: torch.Tensor  # (L, H)
    hidden: torch.Tensor  # (D,)


def _layers(model) -> torch.nn.ModuleList:
    return model.model.layers


def activation_importance(model, forward_loop: ForwardLoop) -> Importance:
    L = len(_layers(model))
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    mlp = torch.zeros(L, cfg.intermediate_size, dtype=torch.float64)
    heads = torch.zeros(L, cfg.num_attention_heads, dtype=torch.float64)
    hidden = torch.zeros(cfg.hidden_size, dtype=torch.float64)
    counts = {"tokens": 0}
    hooks = []

    def down_in(i):
        def hook(_m, args):
            x = args[0].detach().flatten(0, -2).double()  # (N, F)
            mlp[i] += x.abs().sum(0)
            if i == 0:
                counts["tokens"] += x.shape[0]

        return hook

    def o_in(i):
        def hook(_m, args):
            x = args[0].detach().flatten(0, -2).double()  # (N, H*hd)
            heads[i] += x.view(x.shape[0], -1, head_dim).norm(dim=-1).sum(0)

        return hook

    def norm_out(_m, _args, out):
        hidden.add_(out.detach().flatten(0, -2).double().abs().sum(0))

    for i, layer in enumerate(_layers(model)):
        hooks.append(layer.mlp.down_proj.register_forward_pre_hook(down_in(i)))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(o_in(i)))
        hooks.append(layer.input_layernorm.register_forward_hook(norm_out))
        hooks.append(layer.post_attention_layernorm.register_forward_hook(norm_out))
    hooks.append(model.model.norm.register_forward_hook(norm_out))
    try:
        forward_loop(model)
    finally:
        for h in hooks:
            h.remove()
    n = max(counts["tokens"], 1)
    return Importance(mlp / n, heads / n, hidden / n)


def block_influence(model, forward_loop: ForwardLoop) -> torch.Tensor:
    """(L,) mean of 1 - cos(block input, block output) over tokens; higher = more important."""
    L = len(_layers(model))
    total = torch.zeros(L, dtype=torch.float64)
    count = torch.zeros(L, dtype=torch.float64)
    hooks = []

    def hook(i):
        def fn(_m, args, kwargs, out):
            x = args[0] if args else kwargs["hidden_states"]
            y = out[0] if isinstance(out, tuple) else out
            cos = torch.nn.functional.cosine_similarity(x.flatten(0, -2).double(), y.flatten(0, -2).double(), dim=-1)
            total[i] += (1 - cos).sum()
            count[i] += cos.numel()

        return fn

    for i, layer in enumerate(_layers(model)):
        hooks.append(layer.register_forward_hook(hook(i), with_kwargs=True))
    try:
        forward_loop(model)
    finally:
        for h in hooks:
            h.remove()
    return total / count.clamp(min=1)


class _Skip(torch.nn.Module):
    """Stands in for a decoder block: returns its input unchanged."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


def loss_increase(model, loss_fn: LossFn) -> torch.Tensor:
    """(L,) calibration loss with block i skipped minus the full model's; higher = more important."""
    layers = _layers(model)
    base = loss_fn(model)
    out = torch.zeros(len(layers), dtype=torch.float64)
    for i in range(len(layers)):
        keep = layers[i]
        layers[i] = _Skip()
        try:
            out[i] = loss_fn(model) - base
        finally:
            layers[i] = keep
    return out


LAYER_METRICS = {"block-influence": "1 - cos(input, output) per block", "perplexity": "loss increase when the block is skipped"}
