"""What `edgeslm inspect` reports: dimensions, parameters per part, size per quant (from the format records), fit."""

from __future__ import annotations

from typing import Any

from edgeslm.models.loader import CheckpointDir

# checkpoint tensor-name fragment -> part, first match wins
_PARTS = (("embed_tokens", "embeddings"), ("self_attn", "attention"), ("mlp", "mlp"), ("lm_head", "head"), ("norm", "norms"))


def params_by_part(ckpt: CheckpointDir) -> dict[str, int]:
    """Parameter counts from the safetensors headers (the real tensors, not the config)."""
    out = {p: 0 for _, p in _PARTS}
    for name, (_, shape) in ckpt.tensors.items():
        part = next((p for frag, p in _PARTS if frag in name), "other")
        n = 1
        for d in shape:
            n *= d
        out[part] = out.get(part, 0) + n
    return out


def describe(ckpt: CheckpointDir) -> dict[str, Any]:
    from edgeslm.formats import all_formats

    parts = params_by_part(ckpt)
    return {
        "path": str(ckpt.path),
        "architecture": ckpt.spec.to_dict(),
        "params": {**parts, "total": sum(parts.values())},
        "tied_embeddings": ckpt.spec.tie_word_embeddings,
        # format name -> size per quant type, for every format that can estimate it from the headers
        **{f.name: f.size_estimates(ckpt) for f in all_formats().values() if f.size_estimates},
    }
