import json

import pytest
import torch

from edgeslm.errors import ModelLoadError, TokenizerError, UnsupportedArchitectureError
from edgeslm.models.loader import load_model, open_checkpoint
from edgeslm.models.spec import spec_from_config


def test_llama_spec_from_checkpoint(tiny):
    spec = open_checkpoint(tiny("llama")).spec
    assert (spec.family, spec.num_heads, spec.num_kv_heads, spec.head_dim) == ("llama", 4, 2, 16)
    assert not spec.tie_word_embeddings


def test_qwen2_spec_has_biases_tied_embeddings_and_rope_theta(tiny):
    ckpt = open_checkpoint(tiny("qwen2"))
    assert ckpt.spec.arch.qkv_bias and ckpt.spec.tie_word_embeddings
    # transformers 5 writes rope_theta inside rope_parameters; the spec must find it there
    assert "rope_theta" not in ckpt.config and ckpt.spec.rope_theta == 1_000_000.0
    assert "model.layers.0.self_attn.q_proj.bias" in ckpt.tensors


def test_rope_theta_at_top_level_of_older_configs():
    cfg = {"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
           "num_hidden_layers": 1, "num_attention_heads": 2, "rope_theta": 500000.0}
    assert spec_from_config(cfg).rope_theta == 500000.0


def test_param_counts_match_the_real_tensors(tiny):
    """The config-derived count is what inspect and planning use; it must equal the model's."""
    for name in ("llama", "qwen2"):
        lm = load_model(tiny(name))
        assert lm.spec.num_params == sum(p.numel() for p in lm.model.parameters())


def test_models_loaded_side_by_side_leave_transformers_as_it_was(tiny):
    """Recipes build for several devices on threads. from_pretrained swaps PreTrainedModel.tie_weights and torch's
    init functions while it runs; unguarded, two loads at once left them swapped for the rest of the process, and
    every later tied model kept its head on the meta device (CI failed in distill, prune and loader tests)."""
    from concurrent.futures import ThreadPoolExecutor

    from transformers import PreTrainedModel

    tie_weights, normal_ = PreTrainedModel.tie_weights, torch.nn.init.normal_
    path = tiny("qwen2")  # tied embeddings: the head is only real if tie_weights ran
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: load_model(path).model, range(12)))
    assert PreTrainedModel.tie_weights is tie_weights and torch.nn.init.normal_ is normal_
    assert torch.get_default_dtype() == torch.float32
    for m in models:
        assert not any(p.is_meta for p in m.parameters())
        assert m.lm_head.weight is m.model.embed_tokens.weight


def test_loaded_model_is_fp32_and_deterministic(loaded):
    lm = loaded("llama")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        a, b = lm.model(ids).logits, lm.model(ids).logits
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_sha256_changes_with_weights(tiny, tmp_path):
    import shutil

    src = tiny("llama")
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    assert open_checkpoint(copy).sha256 == open_checkpoint(src).sha256
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    assert open_checkpoint(copy).sha256 != open_checkpoint(src).sha256


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_pickle_only_checkpoint_is_refused(tiny, tmp_path):
    d = _copy(tiny("llama"), tmp_path / "m")
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        open_checkpoint(d)


def test_unknown_architecture_lists_supported(tiny, tmp_path):
    d = _copy(tiny("llama"), tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"], cfg["model_type"] = ["MambaForCausalLM"], "mamba"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedArchitectureError) as e:
        open_checkpoint(d)
    assert "LlamaForCausalLM" in str(e.value) and "Qwen2ForCausalLM" in str(e.value)


def test_missing_tokenizer(tiny, tmp_path):
    d = _copy(tiny("llama"), tmp_path / "m")
    (d / "tokenizer.json").unlink()
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        open_checkpoint(d)


def test_truncated_safetensors(tiny, tmp_path):
    d = _copy(tiny("llama"), tmp_path / "m")
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        open_checkpoint(d)
