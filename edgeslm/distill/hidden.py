"""Intermediate hidden-state matching for pruned students.

A student from ``edgeslm prune`` keeps a subset of the teacher's layers and of
its residual-stream channels; prune_record.json says which. Its layer i can
then be pulled toward the teacher layer it came from, on the channels it kept,
with no learned projection. The last student layer is left to the logit loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from edgeslm.errors import UsageError
from edgeslm.models.loader import CheckpointDir
from edgeslm.models.spec import ModelSpec
from edgeslm.prune.record import RECORD as PRUNE_RECORD
from edgeslm.prune.record import PrunedCheckpoint

LOSSES = ("cosine", "mse")


@dataclass(frozen=True)
class HiddenMatch:
    weight: float
    loss: str = "cosine"  # cosine: 1 - cos per position; mse: squared error / teacher's mean square
    layer_map: tuple[tuple[int, int], ...] = ()  # (student layer, teacher layer): block outputs
    channels: tuple[int, ...] | None = None  # teacher residual channels the student kept (None: all)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise UsageError(f"unknown hidden-state loss {self.loss!r}; choose {' or '.join(LOSSES)}")
        if self.weight < 0:
            raise UsageError(f"--hidden-weight must be >= 0, not {self.weight}")


def parse_layer_map(text: str) -> tuple[tuple[int, int], ...]:
    """ "0:0,1:2" -> ((0, 0), (1, 2)). Raises UsageError."""
    try:
        pairs = tuple(tuple(int(x) for x in p.split(":")) for p in text.split(",") if p.strip())
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 for p in pairs):
        raise UsageError(f"--layer-map {text!r} is not a list of STUDENT:TEACHER layer pairs.", hint="for example --layer-map 0:0,1:2")
    return pairs  # type: ignore[return-value]


def plan_hidden_match(student: CheckpointDir | PrunedCheckpoint, teacher_spec: ModelSpec, weight: float, loss: str,
                      layer_map: str | None) -> HiddenMatch:
    """The mapping from a pruned student's record (or ``layer_map``), checked against both models. Raises UsageError."""
    student_spec = student.checkpoint.spec if isinstance(student, PrunedCheckpoint) else student.spec
    if isinstance(student, PrunedCheckpoint):
        kept = student.record.kept
        channels = kept.hidden if len(kept.hidden) != teacher_spec.hidden_size else None
        pairs = parse_layer_map(layer_map) if layer_map else tuple(
            (i, t) for i, t in enumerate(kept.layers[: student_spec.num_layers - 1]))
    else:
        if student_spec.hidden_size != teacher_spec.hidden_size:
            raise UsageError(
                f"--hidden-weight: the student ({student_spec.hidden_size} wide) has no {PRUNE_RECORD} saying which of "
                f"the teacher's {teacher_spec.hidden_size} channels it kept.",
                hint="use a student from edgeslm prune, or drop --hidden-weight (logit distillation alone)")
        if not layer_map:
            raise UsageError(f"--hidden-weight: the student has no {PRUNE_RECORD}, so there is no layer mapping to use.",
                             hint="give one with --layer-map STUDENT:TEACHER,... (for example 0:0,1:2)")
        channels, pairs = None, parse_layer_map(layer_map)
    if not pairs:
        raise UsageError(f"--hidden-weight: a {student_spec.num_layers}-layer student has no intermediate layer to match "
                         "(the last one is left to the logit loss).", hint="give pairs with --layer-map, or drop --hidden-weight")
    for s, t in pairs:
        if not (0 <= s < student_spec.num_layers and 0 <= t < teacher_spec.num_layers):
            raise UsageError(f"--layer-map pair {s}:{t} is out of range: the student has {student_spec.num_layers} "
                             f"layers, the teacher {teacher_spec.num_layers}.")
    return HiddenMatch(weight, loss, pairs, channels)


def hidden_loss(student_hidden: tuple, teacher_hidden: tuple, hm: HiddenMatch) -> torch.Tensor:
    """Mean over mapped layers. ``*_hidden`` are HF ``hidden_states``: [0] embeddings, [i + 1] block i, (B, T, H)."""
    terms = []
    for s, t in hm.layer_map:
        hs = student_hidden[s + 1].float()  # (B, T, H_s)
        ht = teacher_hidden[t + 1].float()  # (B, T, H_t)
        if hm.channels is not None:
            ht = ht[..., list(hm.channels)]
        if hm.loss == "cosine":
            terms.append((1 - F.cosine_similarity(hs, ht, dim=-1)).mean())
        else:  # scale-free: the residual stream grows with depth
            terms.append(F.mse_loss(hs, ht) / ht.pow(2).mean().clamp_min(1e-8))
    return torch.stack(terms).mean()
