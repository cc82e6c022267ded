"""Distillation losses against values computed by hand."""

import math

import pytest
import torch

from edgeslm.distill.losses import KDConfig, kd_loss, kd_loss_topk
from edgeslm.errors import UsageError

# teacher p = (0.5, 0.5); student q = (0.8, 0.2)
T = torch.tensor([[0.0, 0.0]])
S = torch.tensor([[math.log(4), 0.0]])
FWD = 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2)  # KL(p || q) = 0.2231
REV = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)  # KL(q || p) = 0.1927


def test_forward_and_reverse_kl():
    assert kd_loss(S, T, KDConfig("forward")).item() == pytest.approx(FWD, rel=1e-6)
    assert kd_loss(S, T, KDConfig("reverse")).item() == pytest.approx(REV, rel=1e-6)


def test_jsd_endpoints_and_midpoint():
    assert kd_loss(S, T, KDConfig("jsd", beta=0.0)).item() == pytest.approx(FWD, rel=1e-6)
    assert kd_loss(S, T, KDConfig("jsd", beta=1.0)).item() == pytest.approx(REV, rel=1e-6)
    m = (0.65, 0.35)  # 0.5 p + 0.5 q
    jsd = 0.5 * sum(p * math.log(p / mm) for p, mm in zip((0.5, 0.5), m)) + 0.5 * sum(
        q * math.log(q / mm) for q, mm in zip((0.8, 0.2), m))
    assert kd_loss(S, T, KDConfig("jsd", beta=0.5)).item() == pytest.approx(jsd, rel=1e-6)


def test_identical_distributions_cost_nothing_and_temperature_scales():
    x = torch.randn(5, 11)
    assert kd_loss(x, x, KDConfig("forward", temperature=2.0)).item() == pytest.approx(0, abs=1e-6)
    # at T=2 logits are halved; the loss is multiplied back by T^2 = 4
    a = kd_loss(S * 2, T * 2, KDConfig("forward", temperature=2.0)).item()
    assert a == pytest.approx(4 * FWD, rel=1e-6)


def test_bad_config():
    with pytest.raises(UsageError):
        KDConfig("kl")
    with pytest.raises(UsageError):
        KDConfig(temperature=0)
    with pytest.raises(UsageError):
        KDConfig("jsd", beta=1.5)


def test_kd_weight_mixes_kd_and_cross_entropy():
    from edgeslm.distill import DistillConfig, make_loss
    from edgeslm.train.loop import cross_entropy

    torch.manual_seed(0)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 10)

        def forward(self, ids, output_hidden_states=False):
            return type("Out", (), {"logits": self.emb(ids)})()

    student, teacher = LM(), LM()
    tokens = torch.randint(0, 10, (2, 6))
    batch = {"tokens": tokens}
    ce = cross_entropy(student, batch)
    assert make_loss(teacher, DistillConfig(kd_weight=0.0))(student, batch).item() == pytest.approx(ce.item())
    kd = kd_loss(student(tokens[:, :-1]).logits.flatten(0, 1), teacher(tokens[:, :-1]).logits.flatten(0, 1), KDConfig())
    mixed = make_loss(teacher, DistillConfig(kd_weight=0.25))(student, batch).item()
    assert mixed == pytest.approx(0.25 * kd.item() + 0.75 * ce.item(), rel=1e-6)


def _topk_targets(teacher_logits, k, temperature=1.0):
    lt = torch.log_softmax(teacher_logits / temperature, -1)
    top, idx = lt.topk(k, -1)
    rest = torch.log(-torch.expm1(torch.logsumexp(top, -1)))
    return idx, top, rest


@pytest.mark.parametrize("kind", ["forward", "reverse", "jsd"])
def test_topk_loss_is_exact_when_the_rest_is_one_token(kind):
    """k = V - 1 leaves one token in the rest bin: the (k+1)-bin loss is then the full loss."""
    torch.manual_seed(0)
    s, t = torch.randn(6, 9) * 3, torch.randn(6, 9) * 3
    cfg = KDConfig(kind, temperature=1.5)
    assert kd_loss_topk(s, *_topk_targets(t, 8, 1.5), cfg).item() == pytest.approx(kd_loss(s, t, cfg).item(), rel=1e-5)


def test_topk_loss_is_a_lower_bound_that_tightens_with_k():
    """Merging bins can only lose information (data processing), and k=64 of a peaked teacher loses little."""
    torch.manual_seed(0)
    s, t = torch.randn(32, 1000) * 2, torch.randn(32, 1000) * 4
    full = kd_loss(s, t, KDConfig()).item()
    by_k = [kd_loss_topk(s, *_topk_targets(t, k), KDConfig()).item() for k in (4, 16, 64, 256)]
    assert all(a <= b + 1e-6 for a, b in zip(by_k, by_k[1:])) and by_k[-1] <= full + 1e-6
    assert by_k[2] > 0.8 * full, (by_k, full)
