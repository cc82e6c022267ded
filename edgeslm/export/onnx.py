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
Embeddings stay fp32 unless ``quantize_embeddings``: then a GatherBlockQuantized
reads the table, at 8 bits from the tied head's blocks where the model ties them.
"""

from __future__ import annotations

import json
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
EMBEDDING_NODE = "/model/embed_tokens/Gather"


@dataclass(frozen=True)
class ONNXConfig:
    quant: str = "int4"  # fp32 | int8 | int4
    block_size: int = 32  # weights per scale, int8 and int4
    accuracy_level: int = 4  # MatMulNBits compute: 4 = int8 (activations quantized at run time), 0/1 = fp32
    quantize_lm_head: bool = False  # int4: the head is the most output-sensitive weight (int8 always quantizes it)
    algo: str = "default"  # the builder's weight-only method (quantize/onnx.py ALGOS)
    mixed_precision: str = ""  # e.g. "last_matmul:int8,mixed_layers:int8": those MatMuls at int8 in an int4 model
    asymmetric: bool = False  # a zero point per block (uint4/uint8): tighter on skewed blocks, a little larger
    # the embedding Gather too, as GatherBlockQuantized with block_size, not fp32: a tied model's table is the
    # head's own 8-bit blocks (shared); an untied int8 model's gets 4 bits, the only table width the builder
    # writes on its own
    quantize_embeddings: bool = False
    # int4: measure each MatMul's 4-bit sensitivity on calibration text (quantize/sensitivity.py) and keep the
    # most sensitive at int8, up to int8_fraction of the body's weights; "" data: the stdlib corpus's train split
    calibrate: bool = False
    calibration_data: str = ""
    calibration_samples: int = 4  # windows of 256 tokens; each MatMul group costs a forward over them
    int8_fraction: float = 0.125

    def __post_init__(self) -> None:
        object.__setattr__(self, "quant", get_quant(self.quant).name)
        if self.calibrate and self.quant != "int4":
            raise UsageError(f"--calibrate does nothing for ONNX {self.quant}: it picks the MatMuls an int4 model "
                             "keeps at int8.", hint="use --quant int4, or drop --calibrate")
        if self.calibration_samples < 1:
            raise UsageError(f"--calibration-samples {self.calibration_samples}: must be at least 1.")
        if not 0 <= self.int8_fraction <= 1:
            raise UsageError(f"--int8-fraction {self.int8_fraction}: choose a share between 0 and 1, e.g. 0.125.")
        if self.algo not in ALGOS:
            raise UsageError(f"--algo {self.algo}: choose one of {', '.join(ALGOS)}.")
        parse_mixed_precision(self.mixed_precision)
        if self.block_size not in BLOCK_SIZES:
            raise UsageError(f"--block-size {self.block_size}: choose one of {', '.join(map(str, BLOCK_SIZES))}.")
        if self.accuracy_level not in ACCURACY_LEVELS:
            raise UsageError(f"--accuracy-level {self.accuracy_level}: choose 0 or 4 (or 1-3).")


def _builder(src: Path, out: Path, precision: str, extra: dict[str, str], target: dict | None = None) -> None:
    cache = out.parent / (out.name + ".cache")
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(src), "-o", str(out), "-p", precision,
           "-e", "cpu", "-c", str(cache)]
    opts = {"hf_token": "false", "hf_remote": "false", **extra}
    cmd += ["--extra_options", *(f"{k}={v}" for k, v in opts.items())]
    if target:
        cmd += ["--target_options", json.dumps(target)]
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
    sens = _sensitivity(ckpt, config) if config.calibrate else None
    # The builder writes an 8-bit GatherBlockQuantized only over a tied int8 head in a 4-bit build. So a tied
    # int8 model with a quantized table is built as int4 with every MatMul overridden to int8 (the same
    # MatMulNBits bits=8 an int8 build writes), and its embedding reads the head's 8-bit blocks: one 8-bit
    # table in the file instead of an fp32 one, or a 4-bit one that cannot hold outlier channels.
    mixed = parse_mixed_precision(config.mixed_precision)
    table = _embedding_table(q.name, config.quantize_embeddings, ckpt.spec.tie_word_embeddings)
    shared8 = table == "shared int8"
    if shared8:
        narrower = {k: v for k, v in mixed.items() if v != "int8"}
        if narrower:
            # the shared table is the int8 head's blocks, so every MatMul is built at int8 and checked for it
            raise UsageError(f"--mixed-precision {config.mixed_precision!r}: an int8 model of a tied checkpoint with "
                             "--quantize-embeddings keeps every MatMul at int8 (its embedding reads the head's "
                             f"8-bit blocks), so {', '.join(f'{k}:{v}' for k, v in narrower.items())} cannot apply.",
                             hint="drop --mixed-precision, or use --quant int4 with --mixed-precision last_matmul:int8")
        mixed = {**mixed, "last_matmul": "int8"}
        int8_nodes = _body_nodes(ckpt.spec.num_layers)
    else:
        int8_nodes = [_node(g.layer, g.group) for g in sens.chosen] if sens else []
    # an int4 build keeps the head fp32 unless asked or preset otherwise: it is the most output-sensitive weight
    fp32_head = q.name == "int4" and not config.quantize_lm_head and "last_matmul" not in mixed
    # an int4 table in an int8 build is a structured override; in an int4 build the flat options write it
    target = _overrides(mixed, int8_nodes, int4_table=table == "int4" and q.name == "int8", fp32_head=fp32_head)
    if q.name != "fp32":
        extra = {"block_size": str(config.block_size), "accuracy_level": str(config.accuracy_level),
                 "algo_config": config.algo, "is_symmetric": str(not config.asymmetric).lower()}
        if mixed:
            extra["matmul_mixed_precision"] = ",".join(f"{k}:{v}" for k, v in mixed.items())
            if "last_matmul" in mixed and config.algo == "default":
                # the same round-to-nearest under the name whose tensors the builder's shared 8-bit embedding
                # table reads: with "default" it names lm_head.MatMul.weight_Q8G32 but writes ..._Q8, and the
                # graph does not load (onnxruntime-genai 0.18)
                extra["algo_config"] = "rtn"
        if config.quantize_embeddings:
            extra["op_types_to_quantize"] = "MatMul/Gather"
        if fp32_head:
            extra["nodes_to_exclude"] = LM_HEAD_NODE
    notes = []
    if q.name != "fp32" and ckpt.spec.hidden_size % config.block_size:
        notes.append(f"hidden size {ckpt.spec.hidden_size} is not a multiple of block {config.block_size}; the builder pads the last block")
    build = out / "build"
    _builder(ckpt.path, build, "int4" if shared8 else q.name, extra, target)
    if int8_nodes:
        _check_bits(build / MODEL_FILE, int8_nodes + ([LM_HEAD_NODE] if shared8 else []), 8)
    for f in build.iterdir():
        f.rename(out / f.name)
    build.rmdir()
    # the user's options as given, and what the build made of them
    options = {**asdict(config), "embedding_table": table, "shared_int8_embedding": shared8,
               "built_mixed_precision": extra.get("matmul_mixed_precision", "")}
    if sens is not None:
        options["calibration"] = sens.to_dict()
    write_lineage(out, lineage, "onnx", options)
    _embed_lineage(out / MODEL_FILE, lineage)
    for n in notes:
        warnings.warn(n, stacklevel=2)
    return Artifact(out, "onnx", q.name, ckpt.sha256, tuple(notes))


# quantize/sensitivity.py group -> the builder's MatMul node in layer N
BUILDER_NODES = {"qkv": "attn/qkv_proj", "o": "attn/o_proj", "gate": "mlp/gate_proj", "up": "mlp/up_proj",
                 "down": "mlp/down_proj"}


def _node(layer: int, group: str) -> str:
    return f"/model/layers.{layer}/{BUILDER_NODES[group]}/MatMul"


def _body_nodes(num_layers: int) -> list[str]:
    """Every MatMul of the decoder layers, by the builder's names."""
    return [_node(i, g) for i in range(num_layers) for g in BUILDER_NODES]


def _sensitivity(ckpt: CheckpointDir, config: ONNXConfig):
    from edgeslm.quantize.sensitivity import sensitivity_report

    return sensitivity_report(ckpt, config.calibration_data, config.calibration_samples, config.int8_fraction,
                              config.block_size, config.asymmetric)


def _embedding_table(quant: str, quantize_embeddings: bool, tied: bool) -> str:
    """How the builder stores the embedding table: "fp32"; "int4" blocks (an int4 model, or an untied int8
    one: the builder writes no other quantized table); or "shared int8", the tied int8 head's blocks."""
    if quant == "fp32" or not quantize_embeddings:
        return "fp32"
    return "shared int8" if quant == "int8" and tied else "int4"


def _overrides(mixed: dict[str, str], int8_nodes: list[str], int4_table: bool, fp32_head: bool) -> dict | None:
    """The builder's structured quant config (--target_options) where the flat options cannot say it: chosen
    MatMuls at int8 in an int4 build, an int4 embedding table in an int8 model. None when not needed.

    Structured overrides replace the flat options' ones, so the head's exclusion and the ``mixed`` presets
    ({selector: type}) are restated here."""
    if not int8_nodes and not int4_table:
        return None
    overrides: list[dict] = [{"match": {"preset": sel}, "type": typ} for sel, typ in mixed.items()]
    if fp32_head:
        overrides.append({"match": {"name": LM_HEAD_NODE}, "exclude": True})
    overrides += [{"match": {"name": n}, "type": "int8"} for n in int8_nodes]
    if int4_table:
        overrides.append({"match": {"name": EMBEDDING_NODE}, "type": "int4"})
    return {"quant_config": {"weights": {"overrides": overrides}}}


def _check_bits(model_file: Path, nodes: list[str], bits: int) -> None:
    """Each of ``nodes`` became a MatMulNBits of ``bits``. Raises ExportError (the builder renamed its nodes)."""
    import onnx

    graph = onnx.load_model(str(model_file), load_external_data=False).graph
    got = {}
    for n in graph.node:
        if n.op_type == "MatMulNBits":
            base = n.name.rsplit("_Q", 1)[0]
            got[base] = next((a.i for a in n.attribute if a.name == "bits"), None)
    wrong = [n for n in nodes if got.get(n) != bits]
    if wrong:
        raise ExportError(f"onnxruntime-genai's builder did not keep {len(wrong)} chosen MatMul(s) at int{bits}: "
                          f"{', '.join(wrong[:3])}", hint="its node names may have changed; export without --calibrate")
