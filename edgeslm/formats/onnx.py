"""ONNX, for onnxruntime-genai: a folder in its layout (model.onnx, genai_config.json, tokenizer)."""

from __future__ import annotations

from pathlib import Path

from edgeslm.export.onnx import GENAI_CONFIG, MODEL_FILE, ONNXConfig, export_onnx
from edgeslm.formats import Format, folder_bytes_per_token, folder_lineage, folder_model_card, register_format
from edgeslm.quantize.onnx import ONNX_QUANTS


def _runner():
    from edgeslm.runners.onnx import OnnxRunner

    return OnnxRunner


def _probe(path: Path) -> None:
    from edgeslm.runners.onnx import OnnxRunner

    OnnxRunner.probe(path)  # reads headers only: no runtime is loaded


def model_card(path: Path) -> dict:
    """BOS/EOS and the context length as onnxruntime-genai reads them (genai_config.json), the tokenizer's template."""
    import json

    genai = json.loads((path / GENAI_CONFIG).read_text()).get("model", {})
    card = folder_model_card(path, genai.get("context_length"))
    eos = genai.get("eos_token_id")
    return {**card, "bos_token_id": genai.get("bos_token_id", card["bos_token_id"]),
            "eos_token_ids": eos if isinstance(eos, list) else [eos] if eos is not None else card["eos_token_ids"]}


FORMAT = register_format(Format(
    name="onnx",
    title="ONNX (onnxruntime-genai)",
    summary=f"a folder in onnxruntime-genai's layout: {MODEL_FILE} with a KV cache, {GENAI_CONFIG} and the "
            "tokenizer files.",
    config=ONNXConfig,
    quants=ONNX_QUANTS,
    export=export_onnx,
    runner=_runner,
    probe=_probe,
    read_lineage=folder_lineage,
    bytes_per_token=folder_bytes_per_token,
    suffix=Path(MODEL_FILE).suffix,
    marker=GENAI_CONFIG,
    options=("block_size", "accuracy_level", "quantize_lm_head", "algo", "mixed_precision", "asymmetric",
             "quantize_embeddings", "calibrate", "calibration_data", "calibration_samples", "int8_fraction"),
    model_card=model_card,
))
