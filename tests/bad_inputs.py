"""The broken things README's "Bad input and faults" table runs edgeslm on, by placeholder name.

Each builder makes one bad checkpoint, data file, target profile, artifact or
output location in ``root`` from the good tiny model ``ckpt`` and its GGUF.
tests/test_bad_inputs.py substitutes the names into the table's commands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
LOOSE = (ROOT / "tests" / "data" / "loose-target.toml").read_text()


def _ckpt(edit_config=None, edit_tensors=None, drop=(), add=None):
    def make(root: Path, ckpt: Path, gguf: Path) -> Path:
        d = root / "ckpt"
        shutil.copytree(ckpt, d)
        for name in drop:
            (d / name).unlink()
        if edit_config:
            cfg = json.loads((d / "config.json").read_text())
            edit_config(cfg)
            (d / "config.json").write_text(json.dumps(cfg))
        if edit_tensors:
            from safetensors.torch import load_file, save_file

            t = load_file(d / "model.safetensors")
            edit_tensors(t)
            save_file({k: v.contiguous() for k, v in t.items()}, d / "model.safetensors", metadata={"format": "pt"})
        if add:
            add(d)
        return d

    return make


def _file(name: str, content: bytes | str):
    def make(root: Path, ckpt: Path, gguf: Path) -> Path:
        p = root / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return p

    return make


def _target(text: str, name: str = "t.toml"):
    return _file(name, text)


def _folder(files: dict[str, bytes]):
    def make(root: Path, ckpt: Path, gguf: Path) -> Path:
        d = root / "artifact"
        d.mkdir()
        for n, b in files.items():
            (d / n).write_bytes(b)
        return d

    return make


def _gguf_cut(keep: Callable[[bytes], bytes]):
    def make(root: Path, ckpt: Path, gguf: Path) -> Path:
        p = root / "bad.gguf"
        p.write_bytes(keep(gguf.read_bytes()))
        return p

    return make


def _earlier_gguf(root: Path, ckpt: Path, gguf: Path) -> Path:
    p = root / "earlier.gguf"
    shutil.copyfile(gguf, p)
    return p


def _other_vocab(root: Path, ckpt: Path, gguf: Path) -> Path:
    """A valid checkpoint of another model: its own tokenizer with a 300-token vocabulary."""
    from edgeslm.models.tiny import TinyConfig, build_tiny_model

    return build_tiny_model(TinyConfig(vocab_size=300, seed=5), root / "other-vocab")


def _pickle_only(d: Path) -> None:
    (d / "model.safetensors").rename(d / "pytorch_model.bin")


def _set(key, value):
    return lambda c: c.__setitem__(key, value)


def _transpose(t):
    t["model.layers.0.mlp.up_proj.weight"] = t["model.layers.0.mlp.up_proj.weight"].T


def _heads_indivisible(c):
    c.update(num_attention_heads=3, num_key_value_heads=1)
    c.pop("head_dim", None)


def _no_artifacts(text: str) -> str:
    return text.split("[[artifacts]]")[0]


MATERIALS: dict[str, Callable[[Path, Path, Path], Path]] = {
    # checkpoints
    "NO_CONFIG": _ckpt(drop=("config.json",)),
    "BAD_JSON": _ckpt(add=lambda d: (d / "config.json").write_text("{not json")),
    "CONFIG_LIST": _ckpt(add=lambda d: (d / "config.json").write_text("[]")),
    "PICKLE_ONLY": _ckpt(add=_pickle_only),
    "NO_WEIGHTS": _ckpt(drop=("model.safetensors",)),
    "TRUNCATED": _ckpt(add=lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-100])),
    "NO_TOKENIZER": _ckpt(drop=("tokenizer.json",)),
    "GPTNEOX": _ckpt(edit_config=lambda c: c.update(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox")),
    "ROPE_SCALING": _ckpt(edit_config=lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 4.0},
                                                         rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4})),
    "SLIDING": _ckpt(edit_config=_set("use_sliding_window", True)),
    "TRANSPOSED": _ckpt(edit_tensors=_transpose),
    "MISSING_TENSOR": _ckpt(edit_tensors=lambda t: t.pop("model.layers.1.self_attn.k_proj.weight")),
    "MORE_LAYERS": _ckpt(edit_config=lambda c: c.update(num_hidden_layers=c["num_hidden_layers"] + 1)),
    "BIG_VOCAB": _ckpt(edit_config=lambda c: c.update(vocab_size=c["vocab_size"] + 64)),
    "HEADS_INDIVISIBLE": _ckpt(edit_config=_heads_indivisible),
    "ZERO_HEADS": _ckpt(edit_config=_set("num_attention_heads", 0)),
    "NEG_HIDDEN": _ckpt(edit_config=_set("hidden_size", -64)),
    "FLOAT_LAYERS": _ckpt(edit_config=_set("num_hidden_layers", 2.5)),
    "KV_NOT_DIVIDING": _ckpt(edit_config=_set("num_key_value_heads", 3)),
    "OTHER_VOCAB": _other_vocab,
    # data
    "EMPTY_TXT": _file("empty.txt", b"  \n\t\n"),
    "BINARY_TXT": _file("blob.txt", b"\x7fELF\x02\x01\x00\x00binary"),
    "LATIN1_TXT": _file("latin1.txt", "caf\u00e9 au lait".encode("latin-1")),
    "JSONL_NO_TEXT": _file("d.jsonl", '{"content": "x = 1"}\n'),
    "JSONL_BAD": _file("bad.jsonl", '{"text": "x = 1"\n'),
    "SHORT_TXT": _file("short.txt", "x = 1\n"),
    "EMPTY_DIR": lambda root, ckpt, gguf: (root / "empty").mkdir() or root / "empty",
    # targets
    "T_TYPO": _target(LOOSE.replace("threads = 2", "thread = 2")),
    "T_BAD_FORMAT": _target(LOOSE.replace('format = "gguf"\nquant = "Q4_K_M"', 'format = "tflite"\nquant = "Q4_K_M"')),
    "T_BAD_QUANT": _target(LOOSE.replace('quant = "Q4_K_M"', 'quant = "Q2_XXS"')),
    "T_TOP1_PERCENT": _target(LOOSE.replace("min_top1 = 0.2", "min_top1 = 90")),
    "T_NEG_GATE": _target(LOOSE.replace("max_mean_kl = 1.0", "max_mean_kl = -1")),
    "T_STRING_GATE": _target(LOOSE.replace("max_mean_kl = 1.0", 'max_mean_kl = "low"')),
    "T_NO_ARTIFACTS": _target(_no_artifacts(LOOSE)),
    "T_BAD_TOML": _target(LOOSE.replace("threads = 2", "threads = ")),
    "T_MISSING_KEY": _target(LOOSE.replace("threads = 2\n", "")),
    "T_BAD_RUNNER": _target(LOOSE.replace('why = "4-bit"', 'why = "4-bit"\nrunner = "nope"')),
    "T_ZERO_THREADS": _target(LOOSE.replace("threads = 2", "threads = 0")),
    "T_BAD_OPTION": _target(LOOSE.replace('why = "4-bit"', 'why = "4-bit"\noptions = { group_size = 32 }')),
    "T_TXT": _target(LOOSE, "profile.txt"),
    "T_YAML_LIST": _target("- a\n- b\n", "t.yaml"),
    # artifacts
    "GGUF_HEADER": _gguf_cut(lambda b: b[:5000]),
    "NOT_GGUF": _file("notes.gguf", "these are my notes\n"),
    "UNKNOWN_SUFFIX": _file("model.bin", b"\x00" * 64),
    "PTE_BROKEN": _folder({"model.pte": b"not a flatbuffer at all", "tokenizer.json": b"{}"}),
    "PTE_NO_TOKENIZER": _folder({"model.pte": b"\x00\x00\x00\x00ET12rest"}),
    "ONNX_BROKEN": _folder({"model.onnx": b"\x08\x07garbage\xff\xff", "genai_config.json": b'{"model": {"decoder": {}}}'}),
    # outputs
    "FOREIGN_FILE": _file("mine.gguf", "my notes\n"),
    "EARLIER_GGUF": _earlier_gguf,
    "FOREIGN_DIR": _folder({"cat.jpg": b"\xff\xd8"}),
}
