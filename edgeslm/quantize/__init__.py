"""Quantization: one module per artifact format, each with its quant-type table.

Each table is registered with its format (edgeslm.formats), so targets and
the CLI validate a (format, quant) pair without knowing any format:

    format_named("gguf").canonical_quant("q4_k_m")  # "Q4_K_M"
"""
