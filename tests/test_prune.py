"""Structured pruning on tiny seeded Llama and Qwen2 models."""

import json

import numpy as np
import pytest
import torch

from edgeslm.calibrate import make_calibration
from edgeslm.data import TextSet
from edgeslm.models.loader import load_model, open_checkpoint
from edgeslm.prune import PruneRequest, prune, resolve
from edgeslm.prune.plan import plan_for_budget

CALIB = TextSet.of(
    "\n".join(f"def f{i}(x, y):\n    return x * {i} + y  # {i}\n" for i in range(200)), "test-calibration"
)


def _calib(tok):
    return make_calibration(tok, CALIB, n_samples=8, seq_len=64)


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_shapes_shrink_exactly_as_requested(name, loaded):
    lm = loaded(name)  # 2 layers, hidden 64, ffn 128, 4 heads / 2 KV heads
    plan = resolve(PruneRequest(drop_layers=1, ffn_dim=96, num_heads=2, num_kv_heads=1, hidden_size=48, round_to=1), lm.spec)
    c = _calib(lm.tokenizer)
    m = prune(lm.model, plan, c.forward_loop, c.loss).model
    sd = m.state_dict()
    assert len(m.model.layers) == 1
    assert sd["model.embed_tokens.weight"].shape == (lm.spec.vocab_size, 48)
    assert sd["model.layers.0.mlp.gate_proj.weight"].shape == (96, 48)
    assert sd["model.layers.0.mlp.down_proj.weight"].shape == (48, 96)
    assert sd["model.layers.0.self_attn.q_proj.weight"].shape == (2 * 16, 48)
    assert sd["model.layers.0.self_attn.k_proj.weight"].shape == (1 * 16, 48)
    assert sd["model.layers.0.self_attn.o_proj.weight"].shape == (48, 2 * 16)
    if name == "qwen2":
        assert sd["model.layers.0.self_attn.q_proj.bias"].shape == (32,)
    n = sum(p.numel() for p in m.parameters())
    assert n == plan.spec(lm.spec).num_params
    with torch.no_grad():
        assert torch.isfinite(m(torch.tensor([[1, 2, 3]])).logits).all()


def test_query_heads_stay_with_their_kv_group(loaded):
    lm = loaded("llama")  # groups: kv0 <- q0,q1 ; kv1 <- q2,q3
    c = _calib(lm.tokenizer)
    res = prune(lm.model, resolve(PruneRequest(num_kv_heads=1), lm.spec), c.forward_loop)
    for layer, kv in res.keep.kv_heads.items():
        assert len(kv) == 1
        assert res.keep.q_heads[layer] == (2 * kv[0], 2 * kv[0] + 1)


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_pruning_nothing_is_identity(name, loaded):
    lm = loaded(name)
    c = _calib(lm.tokenizer)
    m = prune(lm.model, resolve(PruneRequest(), lm.spec), c.forward_loop).model
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.equal(m(ids).logits, lm.model(ids).logits)


def test_importance_ranking_is_used(loaded):
    """Kept MLP channels are exactly the top-scored ones."""
    lm = loaded("llama")
    c = _calib(lm.tokenizer)
    res = prune(lm.model, resolve(PruneRequest(ffn_dim=32, round_to=1), lm.spec), c.forward_loop)
    for layer, kept in res.keep.ffn.items():
        top = set(torch.topk(res.importance.mlp[layer], 32).indices.tolist())
        assert set(kept) == top


def _prune_cli(cli, tiny, out, *args):
    return cli("prune", tiny("qwen2"), "-o", out, "--calib-samples", "4", "--seq-len", "64", "--round-to", "1",
               "--data", "calibration/stress.txt", "--eval-data", "calibration/stress.txt", *args)


def test_pruned_checkpoint_loads_exports_and_matches_in_llama_cpp(cli, tiny, tmp_path):
    out = tmp_path / "pruned"
    res = _prune_cli(cli, tiny, out, "--ffn-dim", "64", "--num-kv-heads", "1", "--drop-layers", "1")
    assert res.exit_code == 0, res.output
    assert "mlp" in res.stdout and "depth" in res.stdout and "heads" in res.stdout
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(out)
    assert hf.config.num_hidden_layers == 1 and hf.config.intermediate_size == 64 and hf.config.num_key_value_heads == 1
    rec = json.loads((out / "prune_record.json").read_text())
    assert rec["source"]["sha256"] == open_checkpoint(tiny("qwen2")).sha256
    assert rec["calibration"]["sha256"] and len(rec["importance"]["mlp"]) == 2
    assert len(rec["kept"]["ffn"][str(rec["kept"]["layers"][0])]) == 64

    from edgeslm.export import GGUFConfig, export
    from edgeslm.runners import open_runner
    from edgeslm.runners.torch import TorchRunner

    art = export(open_checkpoint(out), GGUFConfig("F32"), tmp_path / "p.gguf")
    ref = TorchRunner(load_model(out))
    ids = ref.tokenize("for i in range(3):\n    print(i)\n" * 3)
    r = open_runner(art.path, threads=2, kv_cache="f32")
    try:
        assert np.abs(ref.logits(ids) - r.logits(ids)).max() <= 1e-4
    finally:
        r.close()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--num-heads", "8"], "--num-heads 8 is larger than the model's 4"),  # the field, worded as its flag
        (["--num-heads", "3", "--num-kv-heads", "2"], "not a multiple"),
        (["--drop-layers", "2"], "drop all 2 layers"),
        (["--target-params", "0.01"], "no plan fits"),
        (["--ffn-dim", "0"], "--ffn-dim 0: a width must be at least 1"),
        (["--layers", "0,7"], "--layers [7]: the model has layers 0..1"),
    ],
)
def test_impossible_requests_are_refused_and_write_nothing(cli, tiny, tmp_path, args, needle):
    out = tmp_path / "pruned"
    res = _prune_cli(cli, tiny, out, *args)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_budget_plan_fits_and_prefers_width(tiny):
    spec = open_checkpoint(tiny("wide576")).spec
    plan = plan_for_budget(spec, 0.6, round_to=32)
    n = plan.spec(spec).num_params
    assert n <= 0.6 * spec.num_params
    assert n >= 0.5 * spec.num_params  # it uses most of the budget
    assert plan.num_layers == spec.num_layers  # one layer: depth cannot go
    assert plan.ffn_dim % 32 == 0 and plan.hidden_size % 32 == 0


def test_plan_table_says_when_rounding_changed_a_request(cli, tiny):
    res = cli("prune", tiny("wide576"), "--plan", "--ffn-dim", "1000")
    assert res.exit_code == 0, res.output
    assert "rounded to 1024" in res.stdout and "params mlp" in res.stdout and "~MiB Q4_K_M" in res.stdout
