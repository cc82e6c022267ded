"""What `edgeslm inspect` reports: dimensions, parameters per part, size per quant, fit."""

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


def gguf_size_estimates(ckpt: CheckpointDir) -> list[dict[str, Any]]:
    """Per GGUF quant type: estimated file MiB and the tensors llama.cpp must store at a fallback type.

    K-quant mixes (_M) put a few tensors at Q6_K, so their real files run ~5-10% larger.
    """
    import gguf

    from edgeslm.quantize.gguf import GGUF_QUANTS, fallback_type

    tied = ckpt.spec.tie_word_embeddings
    rows = []
    for q in GGUF_QUANTS.values():
        nbytes, fallbacks = 0, {}
        for name, (_, shape) in ckpt.tensors.items():
            if tied and name == "lm_head.weight":
                continue
            n = 1
            for d in shape:
                n *= d
            t = gguf.GGMLQuantizationType.F32 if len(shape) == 1 else fallback_type(q.base, shape[-1])
            if t != q.base and len(shape) > 1:
                fallbacks[t.name] = fallbacks.get(t.name, 0) + 1
            block, size = gguf.GGML_QUANT_SIZES[t]
            nbytes += n // block * size
        rows.append({"quant": q.name, "format": "gguf", "est_mib": nbytes / (1 << 20), "fallbacks": fallbacks, "why": q.why})
    return rows


def describe(ckpt: CheckpointDir) -> dict[str, Any]:
    parts = params_by_part(ckpt)
    return {
        "path": str(ckpt.path),
        "architecture": ckpt.spec.to_dict(),
        "params": {**parts, "total": sum(parts.values())},
        "tied_embeddings": ckpt.spec.tie_word_embeddings,
        "gguf": gguf_size_estimates(ckpt),
    }
