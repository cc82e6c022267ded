"""Tiny seeded models of real architectures, with locally trained tokenizers.

Tests, examples and the quickstart build these in a second or two; nothing is
downloaded. Norm weights and q/k/v biases are randomised on purpose: at the
default init they are ones and zeros, and a converter that drops or mislays
them would still match the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeslm.errors import UsageError

# Pre-tokenizer regexes as the reference tokenizers ship them.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPM_SPACE = "\u2581"  # "▁", SentencePiece's visible space

TOKENIZER_KINDS = ("gpt2", "qwen2", "smollm", "spm")


def default_training_text() -> str:
    """A few hundred KiB of Python source from this interpreter's stdlib, in a fixed order."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    names = ["textwrap.py", "shlex.py", "string.py", "argparse.py", "json/encoder.py", "json/decoder.py",
             "dataclasses.py", "functools.py", "pathlib.py", "csv.py"]
    parts = [(root / n).read_text(encoding="utf-8") for n in names if (root / n).is_file()]
    stress = Path(__file__).resolve().parents[2] / "calibration" / "stress.txt"
    if stress.is_file():
        parts.append(stress.read_bytes().decode("utf-8"))
    return "\n".join(parts)


def train_tokenizer(kind: str = "gpt2", vocab_size: int = 512, text: str | None = None):
    """Train a small tokenizer of one of the layouts real checkpoints ship.

    kind:
        gpt2   byte-level BPE, GPT-2 regex (ByteLevel(use_regex=True))
        qwen2  byte-level BPE, Qwen2's Split regex, then ByteLevel(use_regex=False)
        smollm byte-level BPE, single digits, then the GPT-2 regex (SmolLM/SmolLM2)
        spm    SentencePiece-style BPE with byte fallback and "▁" spaces (Llama 2)
    Returns a ``tokenizers.Tokenizer``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    text = text if text is not None else default_training_text()
    lines = text.splitlines(keepends=True)
    if kind == "spm":
        return _train_spm(lines, vocab_size)
    if kind not in TOKENIZER_KINDS:
        raise UsageError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}")
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif kind == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    return tok


def _train_spm(lines: list[str], vocab_size: int):
    """Llama-2 layout: <unk> <s> </s>, then 256 <0xNN> byte tokens, then BPE pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPM_SPACE, prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=max(vocab_size - 259, 64), special_tokens=[], show_progress=False)
    tok.train_from_iterator(lines, trainer)
    js = json.loads(tok.to_str())
    learned = sorted(js["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in learned:
        vocab.setdefault(piece, len(vocab))
    js["model"]["vocab"] = vocab
    js["model"]["byte_fallback"] = True
    js["model"]["unk_token"] = "<unk>"
    js["model"]["fuse_unk"] = True
    js["added_tokens"] = [
        {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for c, i in (("<unk>", 0), ("<s>", 1), ("</s>", 2))
    ]
    tok = Tokenizer.from_str(json.dumps(js))
    tok.decoder = decoders.Sequence(
        [decoders.Replace(SPM_SPACE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPM_SPACE), normalizers.Replace(" ", SPM_SPACE)])
    tok.pre_tokenizer = None
    return tok


@dataclass(frozen=True)
class TinyConfig:
    family: str = "llama"  # "llama" | "qwen2"
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    tie_word_embeddings: bool = False
    rope_theta: float = 10000.0
    max_position_embeddings: int = 512
    tokenizer: str = "gpt2"
    vocab_size: int = 512  # tokenizer training target
    seed: int = 0
    init_std: float = 0.08  # larger than HF's 0.02 so logits are peaked, not flat

    def __post_init__(self) -> None:
        from edgeslm.errors import ConfigError

        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads", "vocab_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, f"must be positive, not {getattr(self, name)}.")
        if self.hidden_size % self.num_heads:
            raise ConfigError("hidden_size", f"{self.hidden_size} must be a multiple of the head count {self.num_heads}.")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError("num_heads", f"{self.num_heads} must be a multiple of the KV-head count {self.num_kv_heads}.")


def build_tiny_model(cfg: TinyConfig, out_dir: str | Path, tokenizer=None) -> Path:
    """Write a seeded random checkpoint (config, safetensors, tokenizer) to ``out_dir``."""
    import torch
    from transformers import (
        GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM,
    )

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else train_tokenizer(cfg.tokenizer, cfg.vocab_size)
    if cfg.tokenizer == "spm":
        bos, eos, extra = "<s>", "</s>", {"unk_token": "<unk>"}
    else:
        bos, eos, extra = "<|endoftext|>", "<|endoftext|>", {}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, **extra)
    common = dict(
        vocab_size=tok.get_vocab_size(),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=cfg.tie_word_embeddings,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        rms_norm_eps=1e-5,
        initializer_range=cfg.init_std,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
    )
    if cfg.family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif cfg.family == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, use_sliding_window=False))
    else:
        raise UsageError(f"unknown tiny-model family {cfg.family!r}; choose llama or qwen2")
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)  # U(0.5, 1.5)
            elif name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * cfg.init_std)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    GenerationConfig(bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id).save_pretrained(out)
    return out

