"""Hugging Face checkpoint -> ExecuTorch program (.pte) for XNNPACK.

This is ExecuTorch's own LLM export, driven from memory: the model is
ExecuTorch's Llama `Transformer` (static KV cache as mutable buffers, forward
``(tokens, {"input_pos": ...})``), ExecuTorch's LLM source transforms swap in
the custom SDPA and cache-update ops, torchao quantizes the linears, and the
XNNPACK partitioner takes them. edgeslm only maps the weights (no pickle file
in between: the library's path loads .pth checkpoints) and owns the options,
errors and metadata.

The output is a folder: model.pte, the tokenizer files (TextLLMRunner reads
tokenizer.json) and edgeslm.json (lineage).
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeslm.errors import ExportError, UsageError
from edgeslm.export.base import Artifact, ArtifactLineage, copy_tokenizer, write_lineage
from edgeslm.models.loader import CheckpointDir
from edgeslm.models.spec import ModelSpec
from edgeslm.quantize.executorch import GROUP_SIZES, get_quant
from edgeslm.util import captured_stderr

PTE_FILE = "model.pte"

# Hugging Face parameter name (per layer, after "model.layers.N.") -> ExecuTorch Llama name
LAYER_NAMES = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "self_attn.q_proj.bias": "attention.wq.bias",
    "self_attn.k_proj.bias": "attention.wk.bias",
    "self_attn.v_proj.bias": "attention.wv.bias",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
}
GLOBAL_NAMES = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}


@dataclass(frozen=True)
class ExecuTorchConfig:
    """Export to an ExecuTorch .pte delegated to XNNPACK."""

    quant: str = "8da4w"  # fp32 | 8da8w | 8da4w
    group_size: int = 32  # 8da4w weight group; 8da8w is per channel
    max_seq_len: int = 512  # KV-cache length: the longest prompt + generation
    quantize_embeddings: bool = False
    # the embedding table's bits and group (0: one scale per row). 8 bits in groups of 32, as llama.cpp's Q8_0:
    # a row's few massive channels (real models have them) set a per-row scale and round the rest to 1-2
    # levels, and 4 bits cost the 135M outlier model 0.29 nats of KL where 8 bits cost 0.004
    embedding_bits: int = 8
    embedding_group_size: int = 32
    # SmoothQuant on calibration data (quantize/smooth.py) before 8-bit dynamic activations; "" data: the
    # stdlib corpus's train split
    calibrate: bool = False
    calibration_data: str = ""
    calibration_samples: int = 32  # windows of 256 tokens
    smooth_alpha: float = 0.5
    # 8da4w: the output head's weight bits. 8 (per channel), as llama.cpp keeps its head at Q6_K in every 4-bit
    # type: on models with real models' outliers a 4-bit head alone costs more KL than the whole 4-bit body
    head_bits: int = 8
    # 8da4w --calibrate: the linears whose measured 4-bit sensitivity (quantize/sensitivity.py) is highest per
    # weight go to 8 bits, up to this share of the body's weights; 0 turns it off
    int8_fraction: float = 0.125

    def __post_init__(self) -> None:
        object.__setattr__(self, "quant", get_quant(self.quant).name)
        if self.embedding_bits not in (4, 8):
            raise UsageError(f"--embedding-bits {self.embedding_bits}: choose 4 or 8.")
        if self.embedding_group_size < 0:
            raise UsageError(f"--embedding-group-size {self.embedding_group_size}: choose 0 (one scale per row) "
                             "or a group that divides the hidden size, e.g. 32.")
        if self.head_bits not in (4, 8):
            raise UsageError(f"--head-bits {self.head_bits}: choose 4 or 8.")
        if not 0 < self.smooth_alpha < 1:
            raise UsageError(f"--smooth-alpha {self.smooth_alpha}: choose a number between 0 and 1, e.g. 0.5.")
        if self.calibration_samples < 1:
            raise UsageError(f"--calibration-samples {self.calibration_samples}: must be at least 1.")
        if not 0 <= self.int8_fraction <= 1:
            raise UsageError(f"--int8-fraction {self.int8_fraction}: choose a share between 0 and 1, e.g. 0.125.")
        if self.group_size not in GROUP_SIZES:
            raise UsageError(f"--group-size {self.group_size}: choose one of {', '.join(map(str, GROUP_SIZES))}.")
        if self.max_seq_len <= 0:
            raise UsageError(f"--max-seq-len {self.max_seq_len}: must be a positive number of tokens.")


def model_params(spec: ModelSpec) -> dict:
    """ExecuTorch ModelArgs fields for a spec. use_hf_rope keeps HF's rotate-half RoPE, so no permutation."""
    return dict(
        dim=spec.hidden_size, n_layers=spec.num_layers, n_heads=spec.num_heads, n_kv_heads=spec.num_kv_heads,
        vocab_size=spec.vocab_size, hidden_dim=spec.intermediate_size, head_dim=spec.head_dim, norm_eps=spec.rms_norm_eps,
        rope_theta=spec.rope_theta, use_hf_rope=True, attention_qkv_bias=spec.arch.qkv_bias,
    )


def _state_dict(ckpt: CheckpointDir):
    import torch
    from safetensors import safe_open

    out = {}
    for f in ckpt.weight_files:
        with safe_open(f, framework="pt") as st:
            for k in st.keys():
                if k in GLOBAL_NAMES:
                    out[GLOBAL_NAMES[k]] = st.get_tensor(k).to(torch.float32)
                    continue
                parts = k.split(".")
                rest = ".".join(parts[3:])
                if parts[:2] != ["model", "layers"] or rest not in LAYER_NAMES:
                    raise ExportError(f"{f.name}: tensor {k!r} has no place in ExecuTorch's Llama model.")
                out[f"layers.{parts[2]}.{LAYER_NAMES[rest]}"] = st.get_tensor(k).to(torch.float32)
    if "output.weight" not in out:  # tied embeddings
        out["output.weight"] = out["tok_embeddings.weight"]
    return out


def unquantized_linears(spec: ModelSpec, group_size: int) -> dict[str, int]:
    """Linear layers whose input width is not a multiple of ``group_size``: name -> width."""
    widths = {
        "attention.wq/wk/wv": spec.hidden_size, "feed_forward.w1/w3": spec.hidden_size,
        "attention.wo": spec.num_heads * spec.head_dim, "feed_forward.w2": spec.intermediate_size,
        "output": spec.hidden_size,
    }
    return {k: w for k, w in widths.items() if w % group_size}


def bos_eos(ckpt: CheckpointDir) -> tuple[int, list[int]]:
    from edgeslm.models.loader import load_tokenizer

    tok = load_tokenizer(ckpt)
    eos = ckpt.config.get("eos_token_id", tok.eos_token_id)
    eos_ids = eos if isinstance(eos, list) else [eos]
    bos = ckpt.config.get("bos_token_id", tok.bos_token_id)
    bos = bos if bos is not None else eos_ids[0]
    return int(bos), [int(e) for e in eos_ids if e is not None]


# quantize/sensitivity.py group -> ExecuTorch Llama linears (under layers.N.)
ET_LINEARS = {"qkv": ("attention.wq", "attention.wk", "attention.wv"), "o": ("attention.wo",),
              "gate": ("feed_forward.w1",), "up": ("feed_forward.w3",), "down": ("feed_forward.w2",)}


def _swap_linear_quantization(transforms: list, ours: Callable) -> list:
    """ExecuTorch's source transforms with its own linear quantization replaced by ``ours``, in its place:
    after the embedding's, before the SDPA and KV-cache swaps (the order its shared embedding and custom ops
    need). Raises ExportError when that transform is not there exactly once: the library changed its list."""
    from executorch.examples.models.llama.source_transformation.quantize import quantize

    at = [i for i, t in enumerate(transforms) if getattr(t, "func", None) is quantize]
    if len(at) != 1:
        raise ExportError(f"ExecuTorch's source transforms changed: {len(at)} linear quantization steps, not one.",
                          hint="install the executorch version that edgeslm pins in pyproject.toml.")
    return [*transforms[:at[0]], ours, *transforms[at[0] + 1:]]


def _linear_quantization(bits: int, group_size: int, head_bits: int, eight_bit: frozenset[str] = frozenset(),
                         head: str = "output"):
    """ExecuTorch's 8da{bits}w linear transform (torchao Int8DynamicActivationIntxWeightConfig with HQQ scales,
    group ``group_size``, 0 = per channel; linears whose width the group does not divide stay fp32), with the
    output head (the module named ``head``: "lm_head" in a Hugging Face model) at ``head_bits`` and the linears
    named in ``eight_bit`` at 8 bits, per channel."""
    import torch
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    def config(b: int, group: int):
        return Int8DynamicActivationIntxWeightConfig(
            weight_dtype=getattr(torch, f"int{b}"), weight_granularity=PerGroup(group) if group else PerAxis(0),
            intx_choose_qparams_algorithm="hqq_scale_only")

    def transform(model):
        # head_bits and the chosen linears can only be 8 when the body is 4-bit: those go per channel at 8
        apart = (set(eight_bit) | ({head} if head_bits == 8 else set())) if bits < 8 else set()
        with torch.no_grad():
            if apart:
                quantize_(model, config(8, 0), filter_fn=lambda m, fqn: fqn in apart)
            quantize_(model, config(bits, group_size), filter_fn=lambda m, fqn: (
                isinstance(m, torch.nn.Linear) and fqn not in apart
                and (group_size == 0 or m.weight.shape[1] % group_size == 0)))
        return model

    return transform


def build_program(ckpt: CheckpointDir, config: ExecuTorchConfig, pte: Path,
                  eight_bit: frozenset[str] = frozenset()) -> list[str]:
    """Export, quantize (the linears named in ``eight_bit``, e.g. "layers.3.attention.wq", at 8 bits in a
    4-bit program), lower to XNNPACK and write ``pte``. Returns warnings."""
    import torch

    with captured_stderr():  # its C++ tokenizer logs "Registering override fallback regex" as it loads
        from executorch.examples.models.llama import export_llama_lib as lib
    from executorch.examples.models.llama.llama_transformer import construct_transformer
    from executorch.examples.models.llama.model_args import ModelArgs
    from executorch.extension.llm.export.builder import DType, LLMEdgeManager

    spec, quant = ckpt.spec, get_quant(config.quant)
    notes = []
    gs = config.group_size if quant.name == "8da4w" else 0  # 8da8w: per channel
    if quant.qmode and gs:
        skipped = unquantized_linears(spec, gs)
        if len(skipped) == 5:
            raise UsageError(
                f"--group-size {gs} divides no layer's input width ({sorted(set(skipped.values()))}); nothing would be quantized.",
                hint=f"choose a group size that divides {spec.hidden_size}",
            )
        if skipped:
            notes.append(
                f"group size {gs} does not divide these layers' input widths, so they stay fp32: "
                + ", ".join(f"{k} ({w})" for k, w in skipped.items())
            )
    args = ModelArgs(max_seq_len=config.max_seq_len, max_context_len=config.max_seq_len, max_batch_size=1,
                     use_kv_cache=True, use_sdpa_with_kv_cache_op=True, enable_dynamic_shape=True, **model_params(spec))
    model = construct_transformer(args).eval()
    result = model.load_state_dict(_state_dict(ckpt), strict=False)
    missing = [k for k in result.missing_keys if ".kv_cache." not in k]
    if missing or result.unexpected_keys:
        raise ExportError(f"weights do not fit ExecuTorch's Llama: missing {missing[:4]}, unexpected {result.unexpected_keys[:4]}")
    bos, eos = bos_eos(ckpt)
    metadata = lib._load_llama_model_metadata(
        True, True, True, config.max_seq_len, config.max_seq_len, spec.num_layers, spec.vocab_size,
        json.dumps({"get_bos_id": bos, "get_eos_ids": eos}),
    )
    mgr = LLMEdgeManager(
        model=model, modelname="edgeslm", max_seq_len=config.max_seq_len, dtype=DType.fp32, use_kv_cache=True,
        example_inputs=(torch.tensor([[2, 3, 4]], dtype=torch.long), {"input_pos": torch.tensor([0], dtype=torch.long)}),
        enable_dynamic_shape=True, metadata=metadata,
    )
    emb = None
    if config.quantize_embeddings:
        if config.embedding_group_size and spec.hidden_size % config.embedding_group_size:
            raise UsageError(f"--embedding-group-size {config.embedding_group_size} does not divide the hidden size "
                             f"{spec.hidden_size}.", hint="choose 0 (one scale per row) or a divisor, e.g. 32")
        emb = f"{config.embedding_bits},{config.embedding_group_size}"
    transforms = lib._get_source_transforms(
        dtype_override=DType.fp32, checkpoint=None, checkpoint_dtype=DType.fp32, tokenizer_path=None,
        use_spin_quant=None, embedding_quantize=emb, use_shared_embedding=False, quantization_mode=quant.qmode,
        group_size=gs, calibration_tasks=None, calibration_limit=None, calibration_seq_length=None,
        expand_rope_table=False, use_sdpa_with_kv_cache=True, quantize_kv_cache=False, use_kv_cache=True,
    )
    if quant.qmode:
        transforms = _swap_linear_quantization(transforms, _linear_quantization(quant.bits, gs, config.head_bits, eight_bit))
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    with warnings.catch_warnings(), captured_stderr() as log:
        warnings.simplefilter("ignore")
        try:
            mgr = mgr.set_output_dir(str(pte.parent)).source_transform(transforms)
            exported = mgr.export()
            exported.run_canonical_optimizations()
            lowered = lib._to_edge_and_lower_llama_xnnpack(exported, "edgeslm", [], None, [], None, xnnpack_extended_ops=True)
            # write it ourselves: the builder's save_to_pte logs write errors instead of raising
            with open(pte, "wb") as f:
                lowered.export_program.write_to_file(f)
        except Exception as e:  # lowering raises many types; keep the library's words
            raise ExportError(f"ExecuTorch export failed: {e}\n{log.text[-1500:]}") from e
    return notes


def _smoothed(ckpt: CheckpointDir, config: ExecuTorchConfig, out: Path):
    """``ckpt`` with SmoothQuant applied on the config's calibration windows: (CheckpointDir, SmoothReport)."""
    from edgeslm.calibrate import make_calibration
    from edgeslm.data import text_or_split
    from edgeslm.models.loader import load_tokenizer
    from edgeslm.quantize.smooth import smooth_checkpoint

    text = text_or_split(config.calibration_data or None, "train")
    calib = make_calibration(load_tokenizer(ckpt), text, n_samples=config.calibration_samples, seq_len=256)
    # the head is smoothed and the channels reordered too: both exact, and each measured on the outlier model
    return smooth_checkpoint(ckpt, calib, out, alpha=config.smooth_alpha, head=True, reorder=True)


def export_executorch(ckpt: CheckpointDir, config: ExecuTorchConfig, out: Path, lineage: ArtifactLineage) -> Artifact:
    """Fill the empty folder ``out`` with model.pte, the tokenizer and the lineage. Raises ExportError, UsageError."""
    spec = ckpt.spec
    if config.max_seq_len > spec.max_position_embeddings:
        raise UsageError(
            f"--max-seq-len {config.max_seq_len} is above what the model supports ({spec.max_position_embeddings})."
        )
    options = asdict(config)
    quant = get_quant(config.quant)
    if config.calibrate and quant.qmode:
        with tempfile.TemporaryDirectory(prefix="edgeslm-smooth-") as tmp:
            smoothed, report = _smoothed(ckpt, config, Path(tmp) / "smoothed")
            eight_bit: frozenset[str] = frozenset()
            if quant.bits == 4 and config.int8_fraction > 0:
                from edgeslm.quantize.sensitivity import sensitivity_report

                # measured on what is quantized: the smoothed weights, at torchao's symmetric groups
                sens = sensitivity_report(smoothed, config.calibration_data, config.calibration_samples,
                                          config.int8_fraction, config.group_size, asymmetric=False)
                eight_bit = frozenset(f"layers.{g.layer}.{name}" for g in sens.chosen for name in ET_LINEARS[g.group])
                options["sensitivity"] = sens.to_dict()
            notes = build_program(smoothed, config, out / PTE_FILE, eight_bit)
        options["calibration"] = report.to_dict()
    else:
        notes = build_program(ckpt, config, out / PTE_FILE)
    copy_tokenizer(ckpt, out)
    write_lineage(out, lineage, "executorch", options)
    for n in notes:
        warnings.warn(n, stacklevel=2)
    return Artifact(out, "executorch", config.quant, ckpt.sha256, tuple(notes))
