"""Every GGUF quant type exports, loads in llama.cpp and tracks the reference.

Quantized models are compared with KL, not exact logits. On random tiny
models the bounds are loose by necessity (near-tied logits), but ordered:
more bits must mean less divergence.
"""

import json
import warnings

import numpy as np
import pytest

from edgeslm.export import GGUFConfig, export
from edgeslm.export.gguf import tensor_types
from edgeslm.models.loader import open_checkpoint
from edgeslm.quantize.gguf import GGUF_QUANTS
from edgeslm.runners import open_runner
from edgeslm.runners.torch import TorchRunner
from edgeslm.verify.accuracy import AccuracyAccumulator


def _kl(ref, runner, ids):
    acc = AccuracyAccumulator()
    acc.add(ref.logits(ids), runner.logits(ids), np.asarray(ids[1:]))
    return acc.result()


@pytest.mark.parametrize("quant", list(GGUF_QUANTS))
def test_every_quant_type_loads_and_tracks_reference(quant, loaded, gguf_file):
    ref = TorchRunner(loaded("llama"))
    ids = ref.tokenize("import os\nimport sys\n\ndef main(argv):\n    return 0\n" * 4)[:96]
    runner = open_runner(gguf_file("llama", quant), threads=2, kv_cache="f32")
    try:
        stats = _kl(ref, runner, ids)
    finally:
        runner.close()
    # 16-bit and up are near-exact; 4-bit random tiny models stay below 1 nat/token
    bound = {"F32": 1e-6, "F16": 1e-3, "BF16": 5e-3, "Q8_0": 0.02}.get(quant, 1.0)
    assert stats.mean_kl <= bound, stats


def test_more_bits_less_divergence(loaded, gguf_file):
    ref = TorchRunner(loaded("llama"))
    ids = ref.tokenize("class Stack:\n    def push(self, x):\n        self.items.append(x)\n" * 3)[:96]
    kls = {}
    for q in ("F16", "Q8_0", "Q4_0"):  # block-32 types: no fallback at width 64
        r = open_runner(gguf_file("llama", q), threads=2, kv_cache="f32")
        kls[q] = _kl(ref, r, ids).mean_kl
        r.close()
    assert 0 < kls["F16"] < kls["Q8_0"] < kls["Q4_0"]


def test_width_576_q4_k_m_falls_back_with_a_warning_and_runs(tiny, loaded, models_dir):
    """SmolLM2 widths: rows of 576 are not a multiple of 256; llama.cpp's fallback is named."""
    ckpt = open_checkpoint(tiny("wide576"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        art = export(ckpt, GGUFConfig("Q4_K_M"), models_dir / "wide576-q4km.gguf")
    msgs = [str(w.message) for w in caught]
    assert any("576" in m and "Q5_0" in m and "fallback" in m for m in msgs), msgs
    types = tensor_types(art.path)
    # rows of 576 became Q5_0 (or Q8_0 where the mix asked for Q6_K); rows of 1536 stay K-quants
    assert types["blk.0.attn_q.weight"][0] == "Q5_0"
    assert types["blk.0.ffn_down.weight"][0] in ("Q4_K", "Q6_K")
    ref = TorchRunner(loaded("wide576"))
    ids = ref.tokenize("for i in range(10):\n    print(i)\n" * 4)[:64]
    r = open_runner(art.path, threads=2)
    try:
        assert _kl(ref, r, ids).mean_kl < 1.0
    finally:
        r.close()


def _verify_json(cli, tmp_path, tiny, gguf_file, quant):
    out = tmp_path / f"{quant}.json"
    res = cli("verify", gguf_file("llama", quant), "--reference", tiny("llama"), "--target", "tests/data/loose-target.toml",
              "--max-tokens", "512", "--runs", "1", "--json", out)
    return res, json.loads(out.read_text())


def test_verify_q8_0_and_q4_k_m_end_to_end(cli, tmp_path, tiny, gguf_file):
    r8, j8 = _verify_json(cli, tmp_path, tiny, gguf_file, "Q8_0")
    r4, j4 = _verify_json(cli, tmp_path, tiny, gguf_file, "Q4_K_M")
    assert r8.exit_code == 0, r8.output
    for res, j in ((r8, j8), (r4, j4)):
        assert "mean KL" in res.stdout and "top-1" in res.stdout
        a = j["accuracy"]
        assert a["positions"] >= 500 and 0 < a["mean_kl"] <= a["p99_kl"]
        assert j["tokenizer"]["equal"] is True
        assert j["speed"]["decode_tps"] > 0 and j["speed"]["prefill_tps"] > 0 and j["speed"]["peak_rss_mib"] > 0
        assert j["roofline_decode_tps"] > 0 and j["file_mib"] > 0
        assert {g["name"] for g in j["gates"]} >= {"max_mean_kl", "min_top1", "min_decode_tps", "max_peak_rss_mib"}
    # the target gives Q8_0 stricter gates of its own
    assert next(g for g in j8["gates"] if g["name"] == "max_mean_kl")["limit"] == 0.02
    assert j8["accuracy"]["mean_kl"] < j4["accuracy"]["mean_kl"]
    assert j8["accuracy"]["top1_agreement"] >= j4["accuracy"]["top1_agreement"]


def test_failed_gate_exits_1(cli, tmp_path, tiny, gguf_file):
    t = tmp_path / "strict.toml"
    t.write_text(open("tests/data/loose-target.toml").read().replace("min_decode_tps = 1.0", "min_decode_tps = 1e9"))
    res = cli("verify", gguf_file("llama", "Q4_K_M"), "--reference", tiny("llama"), "--target", t, "--max-tokens", "64",
              "--runs", "1")
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "min_decode_tps" in res.stdout
