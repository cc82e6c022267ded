"""GGUF F32 in llama.cpp (f32 KV cache) must match PyTorch: the converter is exact.

Tolerances: 1e-4 absolute on logits is ~100x the float32 accumulation-order
noise seen between ggml and PyTorch matmuls on these sizes (~1e-6), and far
below what any converter bug produces (a missing Q/K permutation moves logits
by ~1, a dropped bias or norm by >1e-2).
"""

import numpy as np
import pytest

from edgeslm.data import stress_text
from edgeslm.export.gguf import read_lineage, tensor_types
from edgeslm.models.loader import open_checkpoint
from edgeslm.runners import open_runner
from edgeslm.runners.torch import TorchRunner

PARITY_MODELS = ["llama", "qwen2", "llama-spm", "smollm"]


@pytest.mark.parametrize("name", PARITY_MODELS)
def test_f32_logits_match_pytorch(name, loaded, gguf_file):
    ref = TorchRunner(loaded(name))
    ids = ref.tokenize(stress_text().text)[:200]
    runner = open_runner(gguf_file(name, "F32"), threads=2, kv_cache="f32", n_ctx=256)
    try:
        a, b = ref.logits(ids), runner.logits(ids)
    finally:
        runner.close()
    assert a.shape == b.shape == (len(ids), loaded(name).spec.vocab_size)
    assert np.abs(a - b).max() <= 1e-4
    assert (a.argmax(-1) == b.argmax(-1)).all()


@pytest.mark.parametrize("name", PARITY_MODELS)
def test_token_ids_equal_reference_on_stress_text(name, loaded, gguf_file):
    """Code, whitespace runs, CRLF, tabs, Unicode identifiers, emoji (ZWJ, flags)."""
    text = stress_text().text
    ref_ids = loaded(name).tokenizer.encode(text, add_special_tokens=False)
    runner = open_runner(gguf_file(name, "F32"), threads=2)
    try:
        assert runner.tokenize(text) == ref_ids
    finally:
        runner.close()


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_greedy_generation_matches(name, loaded, gguf_file):
    ref = TorchRunner(loaded(name))
    prompt = ref.tokenize("def __init__(self, value):\n    self.value = value\n")
    runner = open_runner(gguf_file(name, "F32"), threads=2, kv_cache="f32")
    try:
        assert runner.generate(prompt, 24).tokens == ref.generate(prompt, 24).tokens
    finally:
        runner.close()


def test_lineage_in_general_keys(tiny, gguf_file):
    path = gguf_file("llama", "Q8_0")
    lin = read_lineage(path)
    assert lin["quant"] == "Q8_0"
    assert lin["source_sha256"] == open_checkpoint(tiny("llama")).sha256
    assert lin["source"] == "llama" and lin["edgeslm_version"]


def test_tied_model_has_no_output_tensor(gguf_file):
    names = tensor_types(gguf_file("qwen2", "F32"))
    assert "output.weight" not in names and "token_embd.weight" in names
    assert "blk.0.attn_q.bias" in names  # Qwen2's q/k/v biases travel


def test_unknown_pre_tokenizer_is_refused(tiny, tmp_path):
    import json
    import shutil

    from edgeslm.errors import TokenizerError
    from edgeslm.export.gguf_vocab import build_vocab

    d = tmp_path / "m"
    shutil.copytree(tiny("llama"), d)
    tj = json.loads((d / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = {"type": "Whitespace"}
    (d / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(TokenizerError, match="pre-tokenizer"):
        build_vocab(d / "tokenizer.json", 512)
