"""Apply a plan: choose what to keep, slice the tensors, build the smaller model.

The result is a fresh Hugging Face model built from a new config and loaded
with sliced weights, so what is saved is exactly what runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edgeslm.prune.importance import Importance
from edgeslm.prune.plan import PrunePlan


@dataclass(frozen=True)
class Keep:
    """Indices kept, in the source model's numbering."""

    layers: tuple[int, ...]
    ffn: dict[int, tuple[int, ...]]  # source layer -> MLP channels
    q_heads: dict[int, tuple[int, ...]]  # source layer -> query heads, grouped by kept KV head
    kv_heads: dict[int, tuple[int, ...]]
    hidden: tuple[int, ...]

    def then(self, inner: Keep) -> Keep:
        """What ``inner`` keeps of the model this Keep made, in this Keep's source numbering.

        A model sliced by ``self`` has layer i = source layer ``self.layers[i]``,
        and channel/head j of it = ``self.<part>[...][j]`` (slices keep order), so
        composing is indexing. Used when pruning in rounds.
        """
        src = self.layers
        return Keep(
            layers=tuple(src[i] for i in inner.layers),
            ffn={src[i]: tuple(self.ffn[src[i]][j] for j in inner.ffn[i]) for i in inner.layers},
            q_heads={src[i]: tuple(self.q_heads[src[i]][j] for j in inner.q_heads[i]) for i in inner.layers},
            kv_heads={src[i]: tuple(self.kv_heads[src[i]][j] for j in inner.kv_heads[i]) for i in inner.layers},
            hidden=tuple(self.hidden[j] for j in inner.hidden),
        )

    def to_dict(self) -> dict:
        return {"layers": list(self.layers), "ffn": {str(k): list(v) for k, v in self.ffn.items()},
                "q_heads": {str(k): list(v) for k, v in self.q_heads.items()},
                "kv_heads": {str(k): list(v) for k, v in self.kv_heads.items()}, "hidden": list(self.hidden)}


def _top(scores: torch.Tensor, k: int) -> tuple[int, ...]:
    return tuple(sorted(torch.topk(scores, k).indices.tolist()))


def choose(plan: PrunePlan, imp: Importance, layer_scores: torch.Tensor, config,
           generator: torch.Generator | None = None) -> Keep:
    """Keep the highest-scoring structures. With ``generator``, scores are replaced by random
    ones: the baseline that importance-based selection must beat."""
    L, H = imp.heads.shape
    KV = config.num_key_value_heads
    group, new_group = H // KV, plan.num_heads // plan.num_kv_heads

    def s(x: torch.Tensor) -> torch.Tensor:
        return torch.rand(x.shape, generator=generator, dtype=torch.float64) if generator is not None else x

    layers = plan.layers if plan.layers is not None else _top(s(layer_scores), plan.num_layers)
    ffn, q, kv = {}, {}, {}
    for i in layers:
        ffn[i] = _top(s(imp.mlp[i]), plan.ffn_dim)
        hs = s(imp.heads[i]).view(KV, group)  # (KV, group)
        kept_kv = _top(hs.sum(1), plan.num_kv_heads)
        kv[i] = kept_kv
        q[i] = tuple(g * group + h for g in kept_kv for h in _top(hs[g], new_group))
    return Keep(tuple(layers), ffn, q, kv, _top(s(imp.hidden), plan.hidden_size))


def _rows(w: torch.Tensor, idx) -> torch.Tensor:
    return w.index_select(0, torch.as_tensor(idx)).clone()


def _cols(w: torch.Tensor, idx) -> torch.Tensor:
    return w.index_select(1, torch.as_tensor(idx)).clone()


def _head_rows(w: torch.Tensor, heads, head_dim: int) -> torch.Tensor:
    idx = [h * head_dim + d for h in heads for d in range(head_dim)]
    return _rows(w, idx)


def pruned_config(config, plan: PrunePlan, keep: Keep):
    cfg = config.__class__.from_dict(config.to_dict())
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    cfg.num_hidden_layers = len(keep.layers)
    cfg.intermediate_size = plan.ffn_dim
    cfg.num_attention_heads = plan.num_heads
    cfg.num_key_value_heads = plan.num_kv_heads
    cfg.hidden_size = plan.hidden_size
    cfg.head_dim = head_dim  # unchanged; explicit because hidden/heads no longer implies it
    if getattr(config, "layer_types", None):
        cfg.layer_types = [config.layer_types[i] for i in keep.layers]
    return cfg


def slice_model(model, plan: PrunePlan, keep: Keep):
    """A new model of the plan's shape holding the kept slices of ``model``'s weights."""
    from transformers import AutoModelForCausalLM

    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    sd = model.state_dict()
    hid = keep.hidden
    out: dict[str, torch.Tensor] = {
        "model.embed_tokens.weight": _cols(sd["model.embed_tokens.weight"], hid),
        "model.norm.weight": _rows(sd["model.norm.weight"], hid),
    }
    if "lm_head.weight" in sd and not cfg.tie_word_embeddings:
        out["lm_head.weight"] = _cols(sd["lm_head.weight"], hid)
    for new, old in enumerate(keep.layers):
        p, n = f"model.layers.{old}.", f"model.layers.{new}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            out[n + norm + ".weight"] = _rows(sd[p + norm + ".weight"], hid)
        a = p + "self_attn."
        for proj, heads in (("q_proj", keep.q_heads[old]), ("k_proj", keep.kv_heads[old]), ("v_proj", keep.kv_heads[old])):
            out[n + f"self_attn.{proj}.weight"] = _cols(_head_rows(sd[a + proj + ".weight"], heads, head_dim), hid)
            if a + proj + ".bias" in sd:
                out[n + f"self_attn.{proj}.bias"] = _head_rows(sd[a + proj + ".bias"].unsqueeze(1), heads, head_dim)[:, 0]
        o = sd[a + "o_proj.weight"]  # (D, H*hd)
        out[n + "self_attn.o_proj.weight"] = _rows(_head_rows(o.t(), keep.q_heads[old], head_dim).t(), hid)
        m = p + "mlp."
        f = keep.ffn[old]
        out[n + "mlp.gate_proj.weight"] = _cols(_rows(sd[m + "gate_proj.weight"], f), hid)
        out[n + "mlp.up_proj.weight"] = _cols(_rows(sd[m + "up_proj.weight"], f), hid)
        out[n + "mlp.down_proj.weight"] = _rows(_cols(sd[m + "down_proj.weight"], f), hid)
    new = AutoModelForCausalLM.from_config(pruned_config(cfg, plan, keep), dtype=next(model.parameters()).dtype)
    result = new.load_state_dict(out, strict=False)
    # only the tied head may be absent from the sliced weights
    unexpected_missing = [k for k in result.missing_keys if not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    if unexpected_missing or result.unexpected_keys:
        raise RuntimeError(f"sliced weights do not fit the pruned model: {unexpected_missing[:5]} {result.unexpected_keys[:5]}")
    if cfg.tie_word_embeddings:
        new.tie_weights()
    return new.eval()
