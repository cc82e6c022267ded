"""ONNX quant types.

int8 and int4: MatMulNBits block-wise weights from the onnxruntime-genai
builder; with accuracy_level 4 activations are quantized to int8 at run time
(dynamically, per block) and the dot products run in int8.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeslm.errors import UsageError


@dataclass(frozen=True)
class ONNXQuant:
    name: str
    bits: int
    why: str


ONNX_QUANTS: dict[str, ONNXQuant] = {
    q.name: q
    for q in (
        ONNXQuant("fp32", 32, "reference precision; parity checks"),
        ONNXQuant("int8", 8, "MatMulNBits int8 weights (block 32), int8 activations quantized at run time"),
        ONNXQuant("int4", 4, "MatMulNBits block-wise int4 weights (onnxruntime-genai builder)"),
    )
}
BLOCK_SIZES = (16, 32, 64, 128, 256)
ACCURACY_LEVELS = (0, 1, 2, 3, 4)
# the builder's weight-only methods: default and rtn round to nearest; k_quant is llama.cpp's k-quant search of
# each block's scale (and zero point when asymmetric), no calibration data
ALGOS = ("default", "rtn", "k_quant")
# the builder's matmul_mixed_precision selectors: the head, and llama.cpp's mixed strategy (first and last eighth
# of the layers plus every third layer's qkv/v/down projections), chosen by position as Q4_K_M does
MIXED_SELECTORS = ("last_matmul", "mixed_layers")
MIXED_TYPES = ("int4", "int8")


def parse_mixed_precision(value: str) -> dict[str, str]:
    """``"last_matmul:int8,mixed_layers:int8"`` -> {selector: type}; "" -> {}. Raises UsageError."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        sel, _, typ = part.partition(":")
        if sel not in MIXED_SELECTORS or typ not in MIXED_TYPES:
            raise UsageError(f"--mixed-precision {value!r}: {part!r} is not SELECTOR:TYPE.",
                             hint=f"selectors: {', '.join(MIXED_SELECTORS)}; types: {', '.join(MIXED_TYPES)}; "
                                  "e.g. last_matmul:int8,mixed_layers:int8")
        out[sel] = typ
    return out


def get_quant(name: str) -> ONNXQuant:
    q = ONNX_QUANTS.get(name.lower())
    if q is None:
        raise UsageError(f"unknown ONNX quant type {name!r}.", hint=f"choose one of: {', '.join(ONNX_QUANTS)}")
    return q
