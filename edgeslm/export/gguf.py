"""Hugging Face checkpoint -> GGUF for llama.cpp.

Names and keys come from gguf-py's own tables (`gguf.Keys`, `TensorNameMap`);
edgeslm writes an F32 file and hands every other type to llama.cpp's quantizer
(see edgeslm.quantize.gguf).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from edgeslm import __version__
from edgeslm.errors import ExportError, UsageError
from edgeslm.export.base import Artifact, ArtifactLineage
from edgeslm.export.gguf_vocab import build_vocab
from edgeslm.models.loader import CheckpointDir
from edgeslm.outputs import scratch_file
from edgeslm.quantize.gguf import GGUF_QUANTS, GGUFQuant, get_quant, quantize_file


@dataclass(frozen=True)
class GGUFFamily:
    arch: gguf.MODEL_ARCH
    # llama.cpp's LLAMA graph applies RoPE to interleaved pairs, HF to two
    # halves: q/k rows must be permuted. QWEN2 uses the NEOX (halves) layout.
    permute_qk: bool


GGUF_FAMILIES: dict[str, GGUFFamily] = {
    "llama": GGUFFamily(gguf.MODEL_ARCH.LLAMA, permute_qk=True),
    "qwen2": GGUFFamily(gguf.MODEL_ARCH.QWEN2, permute_qk=False),
}


def family_for(spec) -> GGUFFamily:
    """The GGUF architecture to write a model as.

    llama.cpp's QWEN2 loader assumes heads x head_dim == hidden, which head or
    hidden pruning breaks. Its LLAMA graph allows any query width and takes
    optional q/k/v biases, so such a Qwen2 is written as LLAMA with its q/k
    rows (and biases) permuted: the same function, a layout llama.cpp loads.
    """
    fam = GGUF_FAMILIES[spec.family]
    if spec.family == "qwen2" and spec.num_heads * spec.head_dim != spec.hidden_size:
        return GGUF_FAMILIES["llama"]
    return fam


class LineageKeys:
    """Lineage written into every GGUF. gguf-py has no keys for a content hash
    or the producing tool, so these extend its `general.*` namespace."""

    SOURCE_NAME = gguf.Keys.General.BASE_MODEL_NAME.format(id=0)
    SOURCE_COUNT = gguf.Keys.General.BASE_MODEL_COUNT
    SOURCE_SHA256 = "general.source.sha256"  # sha256 of config, weights and tokenizer
    TOOL_VERSION = "general.edgeslm.version"
    QUANT = "general.edgeslm.quant"  # edgeslm's quant name, e.g. "Q4_K_M"
    TEACHER_SHA256 = "general.edgeslm.teacher.sha256"  # the teacher the source was pruned/distilled from
    RECIPE_SHA256 = "general.edgeslm.recipe.sha256"  # the `edgeslm run` recipe that built the file
    CALIBRATION = "general.edgeslm.calibration"  # JSON: the importance matrix's text sha256, samples, ctx
    QUANTIZED_BY = gguf.Keys.General.QUANTIZED_BY


# ArtifactLineage field -> the GGUF key that holds it
LINEAGE_FIELDS = {
    "source": LineageKeys.SOURCE_NAME, "source_sha256": LineageKeys.SOURCE_SHA256,
    "teacher_sha256": LineageKeys.TEACHER_SHA256, "recipe_sha256": LineageKeys.RECIPE_SHA256,
    "edgeslm_version": LineageKeys.TOOL_VERSION, "quant": LineageKeys.QUANT,
}


@dataclass(frozen=True)
class GGUFConfig:
    """Export to GGUF at one quant type (see edgeslm.quantize.gguf.GGUF_QUANTS)."""

    quant: str = "Q4_K_M"
    threads: int = 0  # quantizer threads; 0 = llama.cpp's default
    # an importance matrix (llama-imatrix) on calibration text weights the quantizer's rounding;
    # "" data: the stdlib corpus's train split
    calibrate: bool = False
    calibration_data: str = ""
    calibration_samples: int = 32  # chunks of 256 tokens

    def __post_init__(self) -> None:
        q = get_quant(self.quant)
        object.__setattr__(self, "quant", q.name)
        if self.calibrate and not q.imatrix:
            takes = ", ".join(n for n, t in GGUF_QUANTS.items() if t.imatrix)
            raise UsageError(f"--calibrate does nothing for GGUF {q.name}: llama.cpp uses an importance matrix "
                             f"only for {takes}.", hint="drop --calibrate, or pick one of those types")
        if self.calibration_samples < 1:
            raise UsageError(f"--calibration-samples {self.calibration_samples}: must be at least 1.")


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # (n_head * head_dim, hidden): halves [x0..x(d/2-1) | x(d/2)..] -> pairs (x0, x(d/2)), ...
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensors(ckpt: CheckpointDir, fam: GGUFFamily):
    """Yield (gguf_name, float32 array) for every weight, permuted where llama.cpp needs it."""
    from safetensors import safe_open

    spec = ckpt.spec
    names = gguf.get_tensor_name_map(fam.arch, spec.num_layers)
    for f in ckpt.weight_files:
        with safe_open(f, framework="pt") as st:
            for hf_name in st.keys():
                if hf_name == "lm_head.weight" and spec.tie_word_embeddings:
                    continue  # llama.cpp reuses token_embd when output.weight is absent
                new = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                if new is None:
                    raise ExportError(
                        f"{f.name}: tensor {hf_name!r} has no GGUF name for {spec.arch.hf_class}.",
                        hint="the checkpoint carries weights edgeslm does not know how to place; is it a plain causal LM?",
                    )
                data = st.get_tensor(hf_name).float().numpy()
                if fam.permute_qk and ".self_attn.q_proj." in hf_name:
                    data = _permute(data, spec.num_heads)
                elif fam.permute_qk and ".self_attn.k_proj." in hf_name:
                    data = _permute(data, spec.num_kv_heads)
                yield new, data


def write_f32(ckpt: CheckpointDir, path: Path, quant: GGUFQuant, lineage: ArtifactLineage,
              calibration: dict | None = None) -> list[str]:
    """Write the F32 GGUF (metadata, tokenizer, lineage, and the calibration the quantizer will use). Returns
    tokenizer warnings."""
    spec = ckpt.spec
    fam = family_for(spec)
    vocab = build_vocab(ckpt.tokenizer_file, spec.vocab_size)
    if len(vocab.tokens) != spec.vocab_size:
        raise ExportError(
            f"tokenizer.json has {len(vocab.tokens)} tokens but the model's vocab_size is {spec.vocab_size}.",
            hint="the tokenizer does not belong to this checkpoint",
        )
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[fam.arch])
    w.add_name(ckpt.name)
    w.add_context_length(spec.max_position_embeddings)
    w.add_embedding_length(spec.hidden_size)
    w.add_block_count(spec.num_layers)
    w.add_feed_forward_length(spec.intermediate_size)
    w.add_head_count(spec.num_heads)
    w.add_head_count_kv(spec.num_kv_heads)
    w.add_rope_freq_base(spec.rope_theta)
    w.add_rope_dimension_count(spec.head_dim)
    w.add_layer_norm_rms_eps(spec.rms_norm_eps)
    if spec.head_dim * spec.num_heads != spec.hidden_size:
        w.add_key_length(spec.head_dim)
        w.add_value_length(spec.head_dim)
    w.add_vocab_size(spec.vocab_size)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    # lineage
    w.add_uint32(LineageKeys.SOURCE_COUNT, 1)
    for field, key in LINEAGE_FIELDS.items():
        value = getattr(lineage, field)
        if value:
            w.add_string(key, value)
    w.add_string(LineageKeys.QUANTIZED_BY, f"edgeslm {__version__}")
    if calibration:
        w.add_string(LineageKeys.CALIBRATION, json.dumps(calibration, sort_keys=True))

    special = gguf.SpecialVocab(ckpt.path, load_merges=False, n_vocab=spec.vocab_size)
    # gguf-py logs at WARNING for benign gaps (e.g. no chat template); keep the CLI quiet.
    logging.getLogger("gguf.vocab").setLevel(logging.ERROR)
    vocab.add_to(w, special)

    for name, data in _tensors(ckpt, fam):
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return vocab.warnings


def tensor_types(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (GGML type name, shape as (rows..., row_len)) for every tensor in a GGUF."""
    r = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name, tuple(int(x) for x in reversed(t.shape))) for t in r.tensors}


def _fallback_warning(types: dict[str, tuple[str, tuple[int, ...]]], quant: GGUFQuant) -> str | None:
    """Name the tensors whose rows did not fit the quant's block, and what llama.cpp made of them."""
    if quant.base in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16):
        return None
    odd = {n: t for n, t in types.items() if len(t[1]) == 2 and t[1][-1] % quant.block_size}
    if not odd:
        return None
    used = Counter(t[0] for t in odd.values())
    rows = sorted({t[1][-1] for t in odd.values()})
    names = ", ".join(sorted(odd)[:4]) + (" ..." if len(odd) > 4 else "")
    return (
        f"{len(odd)} tensor(s) have rows of {rows} values, not a multiple of the {quant.block_size} that "
        f"{quant.base.name} needs; llama.cpp stored them as "
        + ", ".join(f"{k} ({v})" for k, v in used.items())
        + f" instead, its standard fallback. The file is larger than a pure {quant.name}: {names}"
    )


def export_gguf(ckpt: CheckpointDir, config: GGUFConfig, out: Path, lineage: ArtifactLineage) -> Artifact:
    """Write the .gguf file ``out`` (export.base.export makes it atomic). Raises ExportError, TokenizerError."""
    quant = get_quant(config.quant)
    if ckpt.spec.family not in GGUF_FAMILIES:
        raise ExportError(f"GGUF export does not support {ckpt.spec.arch.hf_class} yet.")
    notes: list[str] = []
    details: dict = {}
    if quant.name == "F32":
        notes += write_f32(ckpt, out, quant, lineage)
    elif config.calibrate:
        from edgeslm.quantize.imatrix import calibrated_quantize

        cal = _calibration(ckpt, config)
        with scratch_file(out, ".f32") as f32_tmp:
            notes += write_f32(ckpt, f32_tmp, quant, lineage, cal.to_dict())
            details["calibration"] = {**cal.to_dict(), "imatrix_s": round(
                calibrated_quantize(f32_tmp, out, quant, cal, config.threads), 1)}
    else:
        with scratch_file(out, ".f32") as f32_tmp:  # the F32 intermediate is never an output
            notes += write_f32(ckpt, f32_tmp, quant, lineage)
            quantize_file(f32_tmp, out, quant, config.threads)
    types = tensor_types(out)
    fb = _fallback_warning(types, quant)
    if fb:
        notes.append(fb)
    for n in notes:
        warnings.warn(n, stacklevel=2)
    counts = Counter(t[0] for t in types.values())
    return Artifact(out, "gguf", quant.name, ckpt.sha256, tuple(notes), {"tensor_types": dict(counts), **details})


def _calibration(ckpt: CheckpointDir, config: GGUFConfig):
    """The importance matrix's text and chunks, checked before anything is written. Raises DataError."""
    from edgeslm.data import text_or_split
    from edgeslm.models.loader import load_tokenizer
    from edgeslm.quantize.imatrix import IMATRIX_CTX, plan_calibration

    text = text_or_split(config.calibration_data or None, "train")
    tok = load_tokenizer(ckpt)
    # the tool reads only the first chunks: tokenize (and hand it) a prefix that holds them, not a whole corpus;
    # one chunk spare, so the tool's own count cannot fall short of ours, and never under its minimum of two
    want = (max(config.calibration_samples, 2) + 1) * IMATRIX_CTX
    chars = want * 8
    while True:
        n_tokens = len(tok(text.text[:chars], add_special_tokens=False)["input_ids"])
        if n_tokens > want or chars >= len(text.text):
            break
        chars *= 2
    return plan_calibration(text, n_tokens, config.calibration_samples, prefix_chars=chars)


def read_lineage(path: Path) -> dict[str, str]:
    """The lineage fields edgeslm wrote into a GGUF (empty for files from other tools).

    Raises ArtifactError if the file is not a readable GGUF.
    """
    from edgeslm.errors import ArtifactError

    out = {}
    # gguf-py raises ValueError, struct.error, IndexError, UnicodeDecodeError... on damage, while parsing
    # and while decoding a field's contents (fuzzed in tests/test_fuzz.py)
    try:
        r = gguf.GGUFReader(path)
        for k, key in LINEAGE_FIELDS.items():
            field = r.get_field(key)
            if field is not None:
                value = field.contents()
                if not isinstance(value, str):
                    raise ValueError(f"lineage key {key} holds {type(value).__name__}, not text")
                out[k] = value
        field = r.get_field(LineageKeys.CALIBRATION)
        if field is not None:
            out["calibration"] = str(field.contents())
    except Exception as e:  # noqa: BLE001
        raise ArtifactError(f"{path} is not a readable GGUF file: {type(e).__name__}: {e}",
                            hint="it is damaged or not a GGUF; export it again from its checkpoint") from e
    return out
