"""Quantization: one module per artifact format, each with its quant-type table."""
