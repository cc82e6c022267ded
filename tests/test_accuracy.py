"""The accuracy statistics against values computed by hand."""

import math

import numpy as np
import pytest

from edgeslm.verify.accuracy import AccuracyAccumulator


def test_identical_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7)).astype(np.float32)
    acc = AccuracyAccumulator()
    acc.add(x, x.copy(), np.array([1, 2, 3, 4]))
    r = acc.result()
    assert r.mean_kl == pytest.approx(0, abs=1e-12) and r.top1_agreement == 1 and r.nmse == 0
    assert r.ppl_ratio == pytest.approx(1.0)


def test_two_token_golden_values():
    # reference p = (0.5, 0.5); artifact q = (0.8, 0.2) via logits (log 4, 0)
    ref = np.array([[0.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    art = np.array([[math.log(4), 0.0], [math.log(4), 0.0]], dtype=np.float32)
    acc = AccuracyAccumulator()
    acc.add(ref, art, np.array([1]))
    r = acc.result()
    kl = 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2)  # 0.2231 nats
    assert r.mean_kl == pytest.approx(kl, rel=1e-6)
    assert r.ppl_reference == pytest.approx(2.0, rel=1e-6)  # true token 1 under p: 0.5
    assert r.ppl_artifact == pytest.approx(5.0, rel=1e-6)  # under q: 0.2
    # argmax of a tie is index 0 for both, so they agree
    assert r.top1_agreement == 1.0


def test_windows_accumulate():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 10, 5)), rng.normal(size=(2, 10, 5))
    whole, parts = AccuracyAccumulator(), AccuracyAccumulator()
    whole.add(np.concatenate(a), np.concatenate(b), np.zeros(19, dtype=int))
    parts.add(a[0], b[0], np.zeros(9, dtype=int))
    parts.add(a[1], b[1], np.zeros(10, dtype=int))
    assert parts.result().mean_kl == pytest.approx(whole.result().mean_kl)
    assert parts.result().positions == 20
