"""Quantization: one module per artifact format, each with its quant-type table.

QUANT_TABLES maps an artifact format to its table of quant types, so targets
and the CLI validate a (format, quant) pair without knowing any format.
"""

from __future__ import annotations


def quant_tables() -> dict[str, dict]:
    from edgeslm.quantize.executorch import ET_QUANTS
    from edgeslm.quantize.gguf import GGUF_QUANTS
    from edgeslm.quantize.onnx import ONNX_QUANTS

    return {"gguf": GGUF_QUANTS, "executorch": ET_QUANTS, "onnx": ONNX_QUANTS}


def canonical_quant(fmt: str, quant: str) -> str | None:
    """The table's spelling of ``quant`` for ``fmt`` (Q4_K_M, 8da4w, int4), or None if unknown."""
    table = quant_tables().get(fmt, {})
    return next((q for q in table if q.lower() == quant.lower()), None)
