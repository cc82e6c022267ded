"""GGUF, for llama.cpp: one file, quantized by llama.cpp's own quantizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf

from edgeslm.export.gguf import GGUFConfig, export_gguf, read_lineage
from edgeslm.formats import Format, register_format
from edgeslm.models.loader import CheckpointDir
from edgeslm.quantize.gguf import GGUF_QUANTS, fallback_type

FORMAT_NAME = "gguf"
# gguf-py's names for the two tensors the decode-cost estimate treats specially
_EMBEDDING = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_EMBD] + ".weight"
_OUTPUT = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.OUTPUT] + ".weight"


def bytes_per_token(path: Path, spec) -> int:  # noqa: ARG001 - the GGUF knows its tensors
    """Weight bytes a decode step reads: every tensor but the embedding table, of which
    one row is read, unless it is also the (tied) output head."""
    sizes = {t.name: int(t.n_bytes) for t in gguf.GGUFReader(path).tensors}
    if _OUTPUT in sizes:
        sizes.pop(_EMBEDDING, None)
    return sum(sizes.values())


def size_estimates(ckpt: CheckpointDir) -> list[dict[str, Any]]:
    """Per GGUF quant type: estimated file MiB and the tensors llama.cpp must store at a fallback type.

    K-quant mixes (_M) put a few tensors at Q6_K, so their real files run ~5-10% larger.
    """
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
        rows.append({"quant": q.name, "format": FORMAT_NAME, "est_mib": nbytes / (1 << 20), "fallbacks": fallbacks,
                     "why": q.why})
    return rows


def model_card(path: Path) -> dict:
    """BOS/EOS, the chat template and the context length, as llama.cpp will read them from the file."""
    r = gguf.GGUFReader(path)

    def value(key: str):
        field = r.get_field(key)
        return field.contents() if field is not None else None

    arch = value(gguf.Keys.General.ARCHITECTURE)
    eos = value(gguf.Keys.Tokenizer.EOS_ID)
    return {"bos_token_id": value(gguf.Keys.Tokenizer.BOS_ID), "eos_token_ids": [eos] if eos is not None else [],
            "chat_template": value(gguf.Keys.Tokenizer.CHAT_TEMPLATE),
            "context_length": value(gguf.Keys.LLM.CONTEXT_LENGTH.format(arch=arch)) if arch else None}


def _runner():
    from edgeslm.runners.llamacpp import LlamaCppRunner

    return LlamaCppRunner


def _device_tools():
    from edgeslm.verify.binary import llama_cpp_tools

    return llama_cpp_tools


def _probe(path: Path) -> None:
    read_lineage(path)  # parses the header and metadata; raises ArtifactError


FORMAT = register_format(Format(
    name=FORMAT_NAME,
    title="GGUF (llama.cpp)",
    summary="one .gguf file for llama.cpp; every type but F32 comes from llama.cpp's own quantizer. Rows that "
            "do not fit a type's block get llama.cpp's standard fallback type, with a warning naming them. "
            "--calibrate: an importance matrix from llama-imatrix on calibration text guides the 4-6-bit types' "
            "rounding (llama.cpp's tools, built from source once and cached).",
    config=GGUFConfig,
    quants=GGUF_QUANTS,
    export=export_gguf,
    runner=_runner,
    probe=_probe,
    read_lineage=read_lineage,
    bytes_per_token=bytes_per_token,
    suffix=".gguf",
    name_pattern="{model}-{quant}.gguf",
    size_estimates=size_estimates,
    model_card=model_card,
    device_tools=_device_tools,
    options=("calibrate", "calibration_data", "calibration_samples"),
))
