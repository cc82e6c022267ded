"""The model families edgeslm supports, as data.

Each entry maps a Hugging Face ``architectures[0]`` name to what the rest of
edgeslm needs to know about it. Exporters keep their own per-family tables
(for example the GGUF arch name) keyed by ``family``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    hf_class: str  # config.json "architectures"[0]
    model_type: str  # config.json "model_type"
    family: str  # edgeslm's name; exporters key their tables on it
    qkv_bias: bool  # Qwen2 carries biases on q/k/v projections
    examples: str  # what users will recognise


ARCHITECTURES: dict[str, Architecture] = {
    a.hf_class: a
    for a in (
        Architecture("LlamaForCausalLM", "llama", "llama", False, "Llama 2/3, SmolLM/SmolLM2, TinyLlama"),
        Architecture("Qwen2ForCausalLM", "qwen2", "qwen2", True, "Qwen2, Qwen2.5"),
    )
}


def supported_list() -> str:
    """One line per supported architecture, for error messages and --help."""
    return "\n".join(f"  - {a.hf_class} ({a.examples})" for a in ARCHITECTURES.values())
