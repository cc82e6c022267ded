"""The training loop: learns, checkpoints atomically, resumes exactly, accumulates exactly."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from edgeslm.errors import UsageError
from edgeslm.train.batches import TokenWindows, WindowSet, eval_windows
from edgeslm.train.loop import TokenEval, TrainConfig, cross_entropy, train


def _model(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True))


TOKENS = np.tile(np.arange(64, dtype=np.uint16), 40)  # a perfectly predictable stream
CFG = TrainConfig(max_steps=8, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=2, ckpt_every=3, eval_every=4,
                  eval_batches=2)
EVAL = TokenEval(eval_windows(TOKENS, 16, 8), batch_size=4)
quiet = {"progress": lambda _: None}


def test_loss_goes_down(tmp_path):
    res = train(_model(), TokenWindows(TOKENS, CFG), CFG, tmp_path, evaluator=EVAL, **quiet)
    assert res.loss[-1] < 0.8 * res.loss[0]
    assert res.eval_steps == [4, 8] and res.eval_loss[1] < res.eval_loss[0]
    assert res.evals[1]["acc"] > res.evals[0]["acc"] and res.evals[1]["ppl"] == pytest.approx(np.exp(res.eval_loss[1]))


def test_resume_equals_uninterrupted(tmp_path):
    full = train(_model(), TokenWindows(TOKENS, CFG), CFG, tmp_path / "a", **quiet)

    calls = {"n": 0}

    def dies_at_step_5(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # after the step-3 checkpoint, mid-run
            raise KeyboardInterrupt
        return cross_entropy(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(_model(), TokenWindows(TOKENS, CFG), CFG, tmp_path / "b", loss_fn=dies_at_step_5, **quiet)
    assert not (tmp_path / "b" / "last.partial").exists()
    resumed = train(_model(seed=99), TokenWindows(TOKENS, CFG), CFG, tmp_path / "b", resume=True, **quiet)
    assert resumed.steps == full.steps
    # same batches, same optimizer state: identical up to float reassociation
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=1e-5, atol=1e-6)


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    """4 sequences at once and 2 x 2 micro-batches take the same steps: accumulation is a memory knob only."""
    one = train(_model(), TokenWindows(TOKENS, CFG), CFG, tmp_path / "a", **quiet)
    acc_cfg = replace(CFG, grad_accum=2)
    two = train(_model(), TokenWindows(TOKENS, acc_cfg), acc_cfg, tmp_path / "b", **quiet)
    np.testing.assert_allclose(two.loss, one.loss, rtol=1e-5, atol=1e-6)


def test_resume_with_other_config_is_refused(tmp_path):
    train(_model(), TokenWindows(TOKENS, CFG), CFG, tmp_path, **quiet)
    with pytest.raises(UsageError, match="different configuration"):
        train(_model(), TokenWindows(TOKENS, CFG), replace(CFG, lr=5e-3), tmp_path, resume=True, **quiet)


def test_bad_batch_split_is_refused():
    with pytest.raises(UsageError, match="multiple of --grad-accum"):
        TrainConfig(batch_size=6, grad_accum=4)


def test_window_set_visits_every_window_once_per_epoch():
    arrays = {"tokens": np.arange(10 * 3).reshape(10, 3)}
    ws = WindowSet(arrays, batch_size=5, seed=0)
    first = np.concatenate([ws.rows(0), ws.rows(1)])
    assert sorted(first.tolist()) == list(range(10))
    assert np.array_equal(ws(3)["tokens"], arrays["tokens"][ws.rows(3)])  # a pure function of the step
