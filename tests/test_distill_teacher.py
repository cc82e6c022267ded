"""Distillation on the demo teacher: the recovery signal it exists for, on a small budget.

The full-budget study (curves, test-split accuracy) is benchmarks/distill_demo.py;
this guards its direction.
"""

import numpy as np
import pytest

from edgeslm.models.loader import DEMO_TEACHER

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The demo teacher pruned to half its parameters, then trained 30 steps x 1,024 tokens twice from the
    same start on the same windows: once on the teacher's logits, once on cross-entropy alone."""
    from edgeslm.corpus import stdlib_corpus
    from edgeslm.distill import DistillConfig, distill_checkpoints
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint
    from edgeslm.train.loop import TrainConfig

    d = tmp_path_factory.mktemp("kd-vs-ce")
    corpus = stdlib_corpus()
    teacher = open_checkpoint(DEMO_TEACHER)
    pruned = prune_checkpoint(teacher, d / "half", PruneRequest(target_params=0.5), corpus.splits["train"],
                              corpus.splits["test"], calib_samples=32, seq_len=128, eval_samples=4)
    student = pruned.checkpoint
    cfg = TrainConfig(max_steps=30, batch_size=8, seq_len=128, lr=2e-3, warmup_steps=3, eval_every=30, ckpt_every=30,
                      eval_batches=8, bf16=False)  # fp32: bf16 autocast is emulated, minutes a step, on CPUs without AVX-512
    return {w: distill_checkpoints(teacher, student, d / f"kd{w}", corpus.splits["train"], corpus.splits["validation"],
                                   DistillConfig(kd_weight=w), cfg, progress=lambda _: None).curves
            for w in (1.0, 0.0)}, student


def test_student_is_half_the_teacher(runs):
    from edgeslm.models.loader import open_checkpoint

    _, student = runs
    assert 0.4 <= student.spec.num_params / open_checkpoint(DEMO_TEACHER).spec.num_params <= 0.6


def test_kd_beats_cross_entropy_on_the_same_tokens(runs):
    res, _ = runs
    kd, ce = res[1.0].evals[-1], res[0.0].evals[-1]
    # seen at this budget: KL 0.32 vs 0.56, ppl 72 vs 88, top-1 62% vs 54%; the margins guard the direction
    assert kd["kl"] < 0.8 * ce["kl"], (kd, ce)
    assert kd["ppl"] < 0.95 * ce["ppl"], (kd, ce)
    assert kd["top1"] > ce["top1"]
    assert np.isfinite(res[1.0].loss).all()
