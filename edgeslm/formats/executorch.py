"""ExecuTorch, for XNNPACK on phones and boards: a folder with model.pte and the tokenizer."""

from __future__ import annotations

from pathlib import Path

from edgeslm.export.executorch import PTE_FILE, ExecuTorchConfig, export_executorch
from edgeslm.formats import Format, folder_bytes_per_token, folder_lineage, folder_model_card, register_format
from edgeslm.quantize.executorch import ET_QUANTS


def _runner():
    from edgeslm.runners.executorch import ExecuTorchRunner

    return ExecuTorchRunner


def _device_tools():
    from edgeslm.verify.binary import executorch_tools

    return executorch_tools


def _probe(path: Path) -> None:
    from edgeslm.runners.executorch import ExecuTorchRunner

    ExecuTorchRunner.probe(path)  # reads headers only: no runtime is loaded


def model_card(path: Path) -> dict:
    """The tokenizer files' BOS/EOS and chat template; the context is the program's KV-cache length."""
    path = path if path.is_dir() else path.parent
    return folder_model_card(path, folder_lineage(path).get("options", {}).get("max_seq_len"))


FORMAT = register_format(Format(
    name="executorch",
    title="ExecuTorch (XNNPACK)",
    summary="a folder with model.pte (XNNPACK, static KV cache, custom SDPA) and tokenizer.json, loadable by "
            "ExecuTorch's TextLLMRunner.",
    config=ExecuTorchConfig,
    quants=ET_QUANTS,
    export=export_executorch,
    runner=_runner,
    probe=_probe,
    read_lineage=folder_lineage,
    bytes_per_token=folder_bytes_per_token,
    suffix=".pte",
    marker=PTE_FILE,
    options=("group_size", "max_seq_len", "quantize_embeddings", "embedding_bits", "embedding_group_size", "calibrate", "calibration_data", "calibration_samples",
             "smooth_alpha", "head_bits", "int8_fraction"),
    model_card=model_card,
    device_tools=_device_tools,
))
