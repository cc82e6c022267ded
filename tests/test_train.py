"""The training loop: learns, checkpoints atomically, resumes exactly."""

import numpy as np
import pytest
import torch

from edgeslm.errors import UsageError
from edgeslm.train.loop import TrainConfig, cross_entropy, train


def _model(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True))


TOKENS = np.tile(np.arange(64, dtype=np.uint16), 40)  # a perfectly predictable stream
CFG = TrainConfig(max_steps=8, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=2, ckpt_every=3, eval_every=4,
                  eval_batches=2)


def test_loss_goes_down(tmp_path):
    res = train(_model(), TOKENS, TOKENS, CFG, tmp_path, progress=lambda _: None)
    assert res.loss[-1] < 0.8 * res.loss[0]
    assert res.eval_steps == [4, 8] and res.eval_loss[1] < res.eval_loss[0]


def test_resume_equals_uninterrupted(tmp_path):
    full = train(_model(), TOKENS, TOKENS, CFG, tmp_path / "a", progress=lambda _: None)

    calls = {"n": 0}

    def dies_at_step_5(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # after the step-3 checkpoint, mid-run
            raise KeyboardInterrupt
        return cross_entropy(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(_model(), TOKENS, TOKENS, CFG, tmp_path / "b", loss_fn=dies_at_step_5, progress=lambda _: None)
    assert not (tmp_path / "b" / "last.partial").exists()
    resumed = train(_model(seed=99), TOKENS, TOKENS, CFG, tmp_path / "b", resume=True, progress=lambda _: None)
    assert resumed.steps == full.steps
    # same batches, same optimizer state: identical up to float reassociation
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=1e-5, atol=1e-6)


def test_resume_with_other_config_is_refused(tmp_path):
    train(_model(), TOKENS, TOKENS, CFG, tmp_path, progress=lambda _: None)
    from dataclasses import replace

    with pytest.raises(UsageError, match="different configuration"):
        train(_model(), TOKENS, TOKENS, replace(CFG, lr=5e-3), tmp_path, resume=True, progress=lambda _: None)
