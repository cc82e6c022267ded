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


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, cfg: KDConfig) -> torch.Tensor:
    """Mean distillation loss over positions. student, teacher: (N, V) logits."""
    t = cfg.temperature
    ls = F.log_softmax(student.float() / t, -1)  # (N, V)
    lt = F.log_softmax(teacher.float() / t, -1)
    if cfg.kind == "forward" or (cfg.kind == "jsd" and cfg.beta == 0):
        per = _kl(lt, ls)
    elif cfg.kind == "reverse" or (cfg.kind == "jsd" and cfg.beta == 1):
        per = _kl(ls, lt)
    else:
        b = cfg.beta
        # log of the mixture beta * p_teacher + (1 - beta) * p_student
        lm = torch.logsumexp(torch.stack([lt + math.log(b), ls + math.log(1 - b)]), dim=0)
        per = b * _kl(lt, lm) + (1 - b) * _kl(ls, lm)
    return per.mean() * t * t
