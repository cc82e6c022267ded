"""ExecuTorch quant types: torchao configs applied by ExecuTorch's LLM source transforms.

8da4w / 8da8w are 8-bit dynamic activations with 4- or 8-bit weights
(torchao's Int8DynamicActivationIntxWeightConfig), which XNNPACK runs natively.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeslm.errors import UsageError


@dataclass(frozen=True)
class ETQuant:
    name: str
    qmode: str | None  # ExecuTorch's --qmode value
    bits: int  # weight bits, for size estimates
    why: str


ET_QUANTS: dict[str, ETQuant] = {
    q.name: q
    for q in (
        ETQuant("fp32", None, 32, "reference precision; parity checks"),
        ETQuant("8da8w", "8da8w", 8, "int8 weights (per channel), int8 dynamic activations: near-lossless"),
        ETQuant("8da4w", "8da4w", 4, "int4 weights (per group), int8 dynamic activations: the phone default"),
    )
}
GROUP_SIZES = (32, 64, 128, 256)


def get_quant(name: str) -> ETQuant:
    q = ET_QUANTS.get(name.lower())
    if q is None:
        raise UsageError(f"unknown ExecuTorch quant type {name!r}.", hint=f"choose one of: {', '.join(ET_QUANTS)}")
    return q
