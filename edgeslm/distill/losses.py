"""Distillation losses on logits: forward KL, reverse KL and TRL's generalised JSD.

All take (N, V) student and teacher logits (flatten batch and time first) and
return the mean over the N positions, scaled by T^2 so gradients keep their
size as the temperature changes (Hinton et al.).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from edgeslm.errors import UsageError

KINDS = ("forward", "reverse", "jsd")


@dataclass(frozen=True)
class KDConfig:
    kind: str = "forward"  # forward: KL(teacher || student); reverse: KL(student || teacher); jsd: GKD's JSD_beta
    temperature: float = 1.0
    beta: float = 0.5  # jsd only: 0 is forward KL, 1 is reverse KL (as in TRL's GKD)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown distillation loss {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.temperature <= 0:
            raise UsageError(f"--temperature must be positive, not {self.temperature}")
        if not 0 <= self.beta <= 1:
            raise UsageError(f"--beta must be in [0, 1], not {self.beta}")


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, from log-probabilities: (N, V) -> (N,)."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def divergence(ls: torch.Tensor, lt: torch.Tensor, cfg: KDConfig) -> torch.Tensor:
    """Per-row divergence between student and teacher log-probabilities over the same bins: (N, V) -> (N,)."""
    if cfg.kind == "forward" or (cfg.kind == "jsd" and cfg.beta == 0):
        return _kl(lt, ls)
    if cfg.kind == "reverse" or (cfg.kind == "jsd" and cfg.beta == 1):
        return _kl(ls, lt)
    b = cfg.beta
    # log of the mixture beta * p_teacher + (1 - beta) * p_student
    lm = torch.logsumexp(torch.stack([lt + math.log(b), ls + math.log(1 - b)]), dim=0)
    return b * _kl(lt, lm) + (1 - b) * _kl(ls, lm)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, cfg: KDConfig) -> torch.Tensor:
    """Mean distillation loss over positions. student, teacher: (N, V) logits."""
    t = cfg.temperature
    ls = F.log_softmax(student.float() / t, -1)  # (N, V)
    lt = F.log_softmax(teacher.float() / t, -1)
    return divergence(ls, lt, cfg).mean() * t * t


def log1m_exp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for log-masses x <= 0, clamped so that a mass of (almost) 1 stays finite."""
    return torch.log(-torch.expm1(x.clamp(max=-1e-7)))


def coarse_student(student: torch.Tensor, idx: torch.Tensor, temperature: float) -> torch.Tensor:
    """Student log-probs over the teacher's top-k tokens plus one bin for the rest: (N, V) -> (N, k+1)."""
    z = student.float() / temperature
    lse = torch.logsumexp(z, -1, keepdim=True)  # (N, 1)
    top = z.gather(-1, idx) - lse  # (N, k)
    rest = log1m_exp(torch.logsumexp(top, -1, keepdim=True))  # log of the mass outside the top-k
    return torch.cat([top, rest], -1)


def coarse_teacher(topk_logp: torch.Tensor, rest_logp: torch.Tensor) -> torch.Tensor:
    """Teacher log-probs over top-k + rest bins, renormalised (the cache stores them rounded): (N, k+1)."""
    return F.log_softmax(torch.cat([topk_logp.float(), rest_logp.float().unsqueeze(-1)], -1), -1)


def kd_loss_topk(student: torch.Tensor, idx: torch.Tensor, topk_logp: torch.Tensor, rest_logp: torch.Tensor,
                 cfg: KDConfig) -> torch.Tensor:
    """Distillation loss against a cached teacher: its top-k tokens and one bin for everything else.

    student: (N, V) logits; idx: (N, k) token ids; topk_logp: (N, k) and rest_logp: (N,) teacher
    log-probs at ``cfg.temperature``. The divergence is exact for the (k+1)-bin coarsening, a lower
    bound on the full one (data processing), and close to it when the top-k hold most of the mass."""
    t = cfg.temperature
    return divergence(coarse_student(student, idx, t), coarse_teacher(topk_logp, rest_logp), cfg).mean() * t * t
