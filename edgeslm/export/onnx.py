"""Hugging Face checkpoint -> ONNX folder for onnxruntime and onnxruntime-genai.

The graph comes from onnxruntime-genai's model builder (run offline on the
local checkpoint): fused GroupQueryAttention with a KV cache, inputs input_ids,
attention_mask, past_key_values.N.key/value; outputs logits and
present.N.key/value; plus genai_config.json and the tokenizer files.

int8 and int4 are the builder's MatMulNBits: weights stored in blocks of
``block_size`` with a scale each; with accuracy_level 4, activations are
quantized to int8 dynamically, per block, at run time, and the dot products
run in int8. (onnxruntime's quantize_dynamic, per-tensor activation scales,
lost 3-5% top-1 on the demo teacher, below the 97% bar for 8-bit.)
Embeddings stay fp32.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeslm.errors import ExportError, UsageError
from edgeslm.export.base import Artifact, ArtifactLineage, write_lineage
from edgeslm.models.loader import CheckpointDir
from edgeslm.quantize.onnx import ACCURACY_LEVELS, ALGOS, BLOCK_SIZES, get_quant, parse_mixed_precision

MODEL_FILE = "model.onnx"
GENAI_CONFIG = "genai_config.json"  # onnxruntime-genai reads the model folder from this file
LM_HEAD_NODE = "/lm_head/MatMul"  # the builder's node name for the output projection


@dataclass(frozen=True)
class ONNXConfig:
    quant: str = "int4"  # fp32 | int8 | int4
    block_size: int = 32  # weights per scale, int8 and int4
    accuracy_level: int = 4  # MatMulNBits compute: 4 = int8 (activations quantized at run time), 0/1 = fp32
    quantize_lm_head: bool = False  # int4: the head is the most output-sensitive weight (int8 always quantizes it)
    algo: str = "default"  # the builder's weight-only method (quantize/onnx.py ALGOS)
    mixed_precision: str = ""  # e.g. "last_matmul:int8,mixed_layers:int8": those MatMuls at int8 in an int4 model
    asymmetric: bool = False  # a zero point per block (uint4/uint8): tighter on skewed blocks, a little larger
    quantize_embeddings: bool = False  # the embedding Gather too (int8/int4 with block_size), not fp32

    def __post_init__(self) -> None:
        object.__setattr__(self, "quant", get_quant(self.quant).name)
        if self.algo not in ALGOS:
            raise UsageError(f"--algo {self.algo}: choose one of {', '.join(ALGOS)}.")
        parse_mixed_precision(self.mixed_precision)
        if self.block_size not in BLOCK_SIZES:
            raise UsageError(f"--block-size {self.block_size}: choose one of {', '.join(map(str, BLOCK_SIZES))}.")
        if self.accuracy_level not in ACCURACY_LEVELS:
            raise UsageError(f"--accuracy-level {self.accuracy_level}: choose 0 or 4 (or 1-3).")


def _builder(src: Path, out: Path, precision: str, extra: dict[str, str]) -> None:
    cache = out.parent / (out.name + ".cache")
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(src), "-o", str(out), "-p", precision,
           "-e", "cpu", "-c", str(cache)]
    opts = {"hf_token": "false", "hf_remote": "false", **extra}
    cmd += ["--extra_options", *(f"{k}={v}" for k, v in opts.items())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0 or not (out / MODEL_FILE).is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise ExportError("onnxruntime-genai's model builder failed:\n" + "\n".join(tail))


LINEAGE_PREFIX = "edgeslm."  # metadata_props keys: edgeslm.source_sha256, edgeslm.teacher_sha256, ...


def _embed_lineage(model_file: Path, lineage: ArtifactLineage) -> None:
    """The lineage in the graph's own metadata_props, so it travels with model.onnx alone.

    Only the graph proto is rewritten: the weights stay in the external .data file it points to.
    """
    import onnx

    model = onnx.load_model(str(model_file), load_external_data=False)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                        **{LINEAGE_PREFIX + k: v for k, v in lineage.to_dict().items()}})
    onnx.save_model(model, str(model_file))


def read_metadata_lineage(model_file: Path) -> dict[str, str]:
    """The lineage in a model.onnx's metadata_props ({} for graphs edgeslm did not write)."""
    import onnx

    model = onnx.load_model(str(model_file), load_external_data=False)
    return {p.key[len(LINEAGE_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(LINEAGE_PREFIX)}


def export_onnx(ckpt: CheckpointDir, config: ONNXConfig, out: Path, lineage: ArtifactLineage) -> Artifact:
    """Fill the empty folder ``out`` in onnxruntime-genai's layout, with the lineage in edgeslm.json and in
    model.onnx's metadata_props. Raises ExportError, UsageError."""
    q = get_quant(config.quant)
    extra: dict[str, str] = {}
    if q.name != "fp32":
        extra = {"block_size": str(config.block_size), "accuracy_level": str(config.accuracy_level),
                 "algo_config": config.algo, "is_symmetric": str(not config.asymmetric).lower()}
        if config.mixed_precision:
            extra["matmul_mixed_precision"] = config.mixed_precision
            if "last_matmul" in parse_mixed_precision(config.mixed_precision) and config.algo == "default":
                # the same round-to-nearest under the name whose tensors the builder's shared 8-bit embedding
                # table reads: with "default" it names lm_head.MatMul.weight_Q8G32 but writes ..._Q8, and the
                # graph does not load (onnxruntime-genai 0.18)
                extra["algo_config"] = "rtn"
        if config.quantize_embeddings:
            extra["op_types_to_quantize"] = "MatMul/Gather"
        if q.name == "int4" and not config.quantize_lm_head and "last_matmul" not in parse_mixed_precision(config.mixed_precision):
            extra["nodes_to_exclude"] = LM_HEAD_NODE
    notes = []
    if q.name != "fp32" and ckpt.spec.hidden_size % config.block_size:
        notes.append(f"hidden size {ckpt.spec.hidden_size} is not a multiple of block {config.block_size}; the builder pads the last block")
    build = out / "build"
    _builder(ckpt.path, build, q.name, extra)
    for f in build.iterdir():
        f.rename(out / f.name)
    build.rmdir()
    write_lineage(out, lineage, "onnx", asdict(config))
    _embed_lineage(out / MODEL_FILE, lineage)
    for n in notes:
        warnings.warn(n, stacklevel=2)
    return Artifact(out, "onnx", q.name, ckpt.sha256, tuple(notes))
