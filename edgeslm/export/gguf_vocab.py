"""tokenizer.json -> GGUF tokenizer metadata, the way llama.cpp reads it.

Two tokenizer families are supported:
  * byte-level BPE (GPT-2, SmolLM, Qwen2, Llama 3): tokenizer model "gpt2" with
    merges, plus a pre-tokenizer name that selects llama.cpp's split regex;
  * SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama):
    tokenizer model "llama" with scores.

The pre-tokenizer is detected from tokenizer.json's structure and regex, and a
layout that llama.cpp has no pre-tokenizer for is refused: a guessed regex
gives a file that loads but tokenizes differently from the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from edgeslm.errors import TokenizerError

# Split regexes exactly as the reference tokenizers ship them in tokenizer.json.
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# tokenizer.json pre-tokenizer signature -> llama.cpp pre-tokenizer name
# (tokenizer.ggml.pre; see llama_vocab::impl::load in llama.cpp's src/llama-vocab.cpp).
# "bytelevel+regex" is ByteLevel(use_regex=True), which applies the GPT-2 regex itself.
PRE_TOKENIZERS: dict[tuple[str, ...], str] = {
    ("bytelevel+regex",): "gpt-2",  # GPT-2, many small BPE models. "gpt2" (no hyphen) is rejected.
    ("split:" + GPT2_REGEX, "bytelevel"): "gpt-2",
    ("digits:single", "bytelevel+regex"): "smollm",  # SmolLM / SmolLM2
    ("split:" + LLAMA3_REGEX, "bytelevel"): "llama-bpe",  # Llama 3.x
    ("split:" + QWEN2_REGEX, "bytelevel"): "qwen2",  # Qwen2 / Qwen2.5
}

SPM_SPACE = "\u2581"


@dataclass
class GGUFVocab:
    """Everything the GGUF tokenizer section holds."""

    model: str  # "gpt2" | "llama"
    pre: str | None
    tokens: list[str]
    token_types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    add_space_prefix: bool | None = None
    warnings: list[str] = field(default_factory=list)

    def add_to(self, w: gguf.GGUFWriter, special: gguf.SpecialVocab) -> None:
        w.add_tokenizer_model(self.model)
        if self.pre is not None:
            w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        w.add_token_types(self.token_types)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        if self.add_space_prefix is not None:
            w.add_add_space_prefix(self.add_space_prefix)
        special.merges = self.merges
        special.add_to_gguf(w, quiet=True)


def _signature(pre: dict[str, Any] | None) -> tuple[str, ...]:
    if pre is None:
        return ()
    if pre["type"] == "Sequence":
        return tuple(s for p in pre["pretokenizers"] for s in _signature(p))
    if pre["type"] == "ByteLevel":
        if pre.get("add_prefix_space"):
            return ("bytelevel+prefix",)  # llama.cpp never adds the prefix space: unmappable
        return ("bytelevel+regex",) if pre.get("use_regex", True) else ("bytelevel",)
    if pre["type"] == "Digits":
        return ("digits:single" if pre.get("individual_digits") else "digits",)
    if pre["type"] == "Split":
        pat = pre.get("pattern", {})
        return ("split:" + str(pat.get("Regex", pat.get("String"))),)
    if pre["type"] == "Metaspace":
        return ("metaspace",)
    return (pre["type"].lower(),)


def _is_spm(tj: dict[str, Any]) -> bool:
    m = tj["model"]
    if m.get("type") != "BPE" or not m.get("byte_fallback"):
        return False
    return SPM_SPACE in json.dumps(tj.get("normalizer"), ensure_ascii=False) or _signature(tj.get("pre_tokenizer")) == ("metaspace",)


def _id_ordered(tj: dict[str, Any], n_vocab: int) -> tuple[list[str], list[int], set[int]]:
    """Tokens by id (model vocab plus added tokens), padded to ``n_vocab``; and the special ids."""
    by_id: dict[int, str] = {i: t for t, i in tj["model"]["vocab"].items()}
    types: dict[int, int] = {}
    specials: set[int] = set()
    for a in tj.get("added_tokens", []):
        by_id[a["id"]] = a["content"]
        if a.get("special"):
            specials.add(a["id"])
            types[a["id"]] = gguf.TokenType.CONTROL
        else:
            types[a["id"]] = gguf.TokenType.USER_DEFINED
    n = max(n_vocab, max(by_id) + 1)
    tokens, ttypes = [], []
    for i in range(n):
        if i in by_id:
            tokens.append(by_id[i])
            ttypes.append(types.get(i, gguf.TokenType.NORMAL))
        else:  # embedding rows beyond the tokenizer (padded vocab): never produced
            tokens.append(f"[PAD{i}]")
            ttypes.append(gguf.TokenType.UNUSED)
    return tokens, ttypes, specials


def _merges(tj: dict[str, Any]) -> list[str]:
    return [m if isinstance(m, str) else " ".join(m) for m in tj["model"].get("merges", [])]


def build_vocab(tokenizer_json: Path, n_vocab: int) -> GGUFVocab:
    """Read tokenizer.json into GGUF tokenizer fields.

    Raises TokenizerError for a tokenizer llama.cpp would read differently
    from the reference (unknown pre-tokenizer, non-BPE model).
    """
    try:
        tj = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{tokenizer_json} is not valid JSON: {e}") from e
    model_type = tj.get("model", {}).get("type")
    if model_type != "BPE":
        raise TokenizerError(
            f"{tokenizer_json}: tokenizer model {model_type!r} is not supported for GGUF export.",
            hint="supported: byte-level BPE (GPT-2/SmolLM/Qwen2/Llama 3) and SentencePiece-style BPE with byte fallback (Llama 2)",
        )
    tokens, ttypes, specials = _id_ordered(tj, n_vocab)
    if _is_spm(tj):
        return _spm_vocab(tj, tokens, ttypes)

    sig = _signature(tj.get("pre_tokenizer"))
    pre = PRE_TOKENIZERS.get(sig)
    if pre is None:
        known = ", ".join(sorted(set(PRE_TOKENIZERS.values())))
        raise TokenizerError(
            f"{tokenizer_json}: no llama.cpp pre-tokenizer matches this tokenizer's pre-tokenization {list(sig)}.",
            hint=f"edgeslm maps these layouts: {known}. A guessed one would tokenize differently on device.",
        )
    warnings = []
    norm = tj.get("normalizer")
    if norm is not None:
        kind = norm.get("type")
        if kind == "NFC":
            warnings.append(
                "tokenizer.json normalizes to NFC but llama.cpp does not; ids can differ on decomposed Unicode input"
            )
        else:
            raise TokenizerError(f"{tokenizer_json}: normalizer {kind!r} has no llama.cpp equivalent.")
    return GGUFVocab("gpt2", pre, tokens, ttypes, merges=_merges(tj), warnings=warnings)


def _spm_vocab(tj: dict[str, Any], tokens: list[str], ttypes: list[int]) -> GGUFVocab:
    # llama.cpp's SPM tokenizer merges the adjacent pair whose concatenation
    # scores highest; a BPE merge of rank r therefore gets score -r, so
    # merges apply in the same order as the reference BPE.
    rank = {}
    for r, m in enumerate(_merges(tj)):
        a, b = m.split(" ", 1)
        rank.setdefault(a + b, r)
    scores = [-float(rank[t]) if t in rank else 0.0 for t in tokens]
    unk = tj["model"].get("unk_token")
    for i, t in enumerate(tokens):
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            ttypes[i] = gguf.TokenType.BYTE
        elif t == unk:
            ttypes[i] = gguf.TokenType.UNKNOWN
    if "<0x0A>" not in tokens:
        raise TokenizerError("SentencePiece-style tokenizer has no <0x0A> byte token; llama.cpp needs byte fallback tokens.")
    norm = json.dumps(tj.get("normalizer"))
    pre = tj.get("pre_tokenizer") or {}
    add_prefix = "Prepend" in norm or pre.get("prepend_scheme", "always") in ("first", "always") and pre.get("type") == "Metaspace"
    return GGUFVocab("llama", None, tokens, ttypes, scores=scores, add_space_prefix=bool(add_prefix))
