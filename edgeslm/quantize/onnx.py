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


def get_quant(name: str) -> ONNXQuant:
    q = ONNX_QUANTS.get(name.lower())
    if q is None:
        raise UsageError(f"unknown ONNX quant type {name!r}.", hint=f"choose one of: {', '.join(ONNX_QUANTS)}")
    return q
