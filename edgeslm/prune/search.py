"""Plan search: which mix of depth and width to cut for a parameter budget, chosen by measured loss.

    budget = 0.5 * spec.num_params
    cands = candidate_plans(spec, budget, round_to=256)
    found = search_plans(model, cands, scores, windows, budget)          # one-shot KL on calibration windows
    found = rerank_distilled(model, found, scores, windows, train, 20)  # optional: after 20 distillation steps
    found.best.plan

No fixed preference between depth and width holds across models: on a real
135M model, pruning only width lost 5.2 nats of KL where a depth-and-width mix
lost 4.75. So every architecture on the kernels' rounding grid that fits the
budget (layers kept x hidden x KV groups, with the widest MLP that fits) is
cut from the teacher with the importance scores already computed and measured
against it. Minitron's observation that a few steps of distillation predict
the final ranking better than one-shot loss is what ``rerank_distilled`` is for.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import torch

from edgeslm.calibrate import Calibration
from edgeslm.errors import UsageError
from edgeslm.models.spec import ModelSpec
from edgeslm.prune.apply import choose, slice_model
from edgeslm.prune.plan import PrunePlan, PruneRequest, _multiples, budget_params, plan_for_budget

if TYPE_CHECKING:
    from edgeslm.prune import Scores

# Candidates below this share of the budget are dominated by a larger one on the same axes and
# would win or lose on size, not on where they cut; the labelled baselines are kept regardless.
NEAR_BUDGET = 0.85
MAX_DEPTHS = 12  # layer counts tried: every one for shallow models, an even spread for deep ones
SEARCH_WINDOWS = 8  # calibration windows the candidates' KL is measured on; the rest train --search-steps


@dataclass(frozen=True)
class Candidate:
    """One architecture at the budget and what it lost, in nats of KL(teacher || candidate) per token."""

    plan: PrunePlan
    params: int
    kind: str  # "depth" (only layers), "width" (only widths) or "mix"
    baseline: str = ""  # "spec-only planner": plan_for_budget's choice, the row to beat
    one_shot_kl: float | None = None
    distilled_kl: float | None = None

    @property
    def key(self) -> float:
        """What ranks it: the KL after distillation when measured, else one-shot (lower is better)."""
        return self.distilled_kl if self.distilled_kl is not None else (
            self.one_shot_kl if self.one_shot_kl is not None else math.inf)

    def to_dict(self) -> dict:
        p = self.plan
        return {"layers": p.num_layers, "hidden": p.hidden_size, "ffn": p.ffn_dim, "heads": p.num_heads,
                "kv_heads": p.num_kv_heads, "params": self.params, "kind": self.kind, "baseline": self.baseline,
                "one_shot_kl": self.one_shot_kl, "distilled_kl": self.distilled_kl}


@dataclass(frozen=True)
class PlanSearch:
    """Candidates best first (by ``Candidate.key``), the budget, and how they were measured."""

    budget: int  # parameters
    candidates: tuple[Candidate, ...]
    windows: dict  # windows, seq_len, tokens the KL was measured on
    search_steps: int = 0  # distillation steps before re-ranking (0: one-shot only)

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def to_dict(self) -> dict:
        return {"budget": self.budget, "measured_on": self.windows, "search_steps": self.search_steps,
                "ranked_by": "distilled_kl" if self.search_steps else "one_shot_kl",
                "candidates": [c.to_dict() for c in self.candidates]}


def _kind(plan: PrunePlan, base: ModelSpec) -> str:
    deep = plan.num_layers < base.num_layers
    wide = (plan.ffn_dim, plan.hidden_size, plan.num_kv_heads) != (base.intermediate_size, base.hidden_size,
                                                                  base.num_kv_heads)
    return "mix" if deep and wide else "depth" if deep else "width"


def _depths(n_layers: int) -> list[int]:
    if n_layers <= MAX_DEPTHS:
        return list(range(n_layers, 0, -1))
    return sorted({int(round(x)) for x in np.linspace(n_layers, 1, MAX_DEPTHS)}, reverse=True)


def candidate_plans(base: ModelSpec, budget: float, round_to: int = 256) -> list[Candidate]:
    """Every architecture at or under ``budget`` parameters on the rounding grid, near the budget.

    For each number of layers kept, hidden size (multiples of ``round_to``, down
    to half) and KV-group count (query heads go with their group), the widest MLP
    that fits, when within NEAR_BUDGET of the budget; plus the fewest layers
    dropped at full width (depth only) and the spec-only planner's choice
    (labelled), to be measured against. Raises UsageError when nothing fits.
    """
    group = base.num_heads // base.num_kv_heads
    min_hidden = min(base.hidden_size, max(round_to, base.hidden_size // 2))
    ffns = _multiples(base.intermediate_size, round_to, 1)
    out: dict[tuple, Candidate] = {}
    for n in _depths(base.num_layers):
        for hidden in _multiples(base.hidden_size, round_to, min_hidden):
            for kv in range(base.num_kv_heads, 0, -1):
                for ffn in ffns:  # widest first: the first that fits
                    plan = PrunePlan(n, None, ffn, kv * group, kv, hidden)
                    params = plan.spec(base).num_params
                    if params <= budget:
                        if not plan.is_identity(base):
                            out[(n, hidden, kv, ffn)] = Candidate(plan, params, _kind(plan, base))
                        break
    if not out:
        smallest = PrunePlan(1, None, min(ffns), group, 1, min_hidden).spec(base).num_params
        raise UsageError(
            f"no plan fits {budget:,.0f} parameters; the smallest edgeslm will plan for this model is {smallest:,} "
            f"({smallest / base.num_params:.0%}): one layer, hidden {min_hidden}, one KV group, MLP {min(ffns)}.",
            hint="raise --target-params, or give explicit sizes (--drop-layers, --ffn-dim, --hidden-size)")
    rows = {_shape(c.plan): c for c in out.values() if c.params >= NEAR_BUDGET * budget}
    # depth-only at full width moves in whole layers and may land far under the budget: keep its best anyway
    full = (base.intermediate_size, base.hidden_size, base.num_kv_heads)
    depth_only = [c for c in out.values() if (c.plan.ffn_dim, c.plan.hidden_size, c.plan.num_kv_heads) == full]
    if depth_only:
        best = max(depth_only, key=lambda c: c.params)
        rows.setdefault(_shape(best.plan), best)
    try:
        p = replace(plan_for_budget(base, budget, round_to), notes=())
    except UsageError:
        p = None
    if p is not None and not p.is_identity(base):
        old = rows.get(_shape(p))
        rows[_shape(p)] = replace(old or Candidate(p, p.spec(base).num_params, _kind(p, base)), baseline="spec-only planner")
    return sorted(rows.values(), key=lambda c: -c.params)


def _shape(p: PrunePlan) -> tuple:
    return (p.num_layers, p.hidden_size, p.num_kv_heads, p.num_heads, p.ffn_dim)


class TeacherLogProbs:
    """The teacher's log-probabilities on scoring windows, computed once: (N, T, V) float16.

    float16 keeps 200 MiB for 8 windows of 256 tokens at a 49k vocabulary; its
    rounding (about 1e-3 relative) is far below the KL gaps that rank plans.
    """

    def __init__(self, teacher, windows: Calibration):
        self.windows = windows
        with torch.inference_mode():
            self.logp = [torch.log_softmax(teacher(b, use_cache=False).logits.float(), -1).half()
                         for b in windows._batches()]

    @torch.inference_mode()
    def kl(self, student) -> float:
        """Mean KL(teacher || student) per token, in nats, over every position of every window."""
        total, n = 0.0, 0
        for b, lt in zip(self.windows._batches(), self.logp):
            ls = torch.log_softmax(student(b, use_cache=False).logits.float(), -1)
            lt = lt.float()
            total += float((lt.exp() * (lt - ls)).sum())
            n += b.numel()
        return total / n


def search_plans(model, candidates: list[Candidate], scores, ref: TeacherLogProbs, budget: float, *,
                 progress: Callable[[str], None] = lambda _: None) -> PlanSearch:
    """Cut every candidate from ``model`` with ``scores`` (prune.Scores) and rank them by one-shot KL to the
    teacher whose log-probs ``ref`` holds (``model`` itself, or when pruning in rounds the source)."""
    windows = ref.windows
    done = []
    for i, c in enumerate(candidates, 1):
        student = slice_model(model, c.plan, choose(c.plan, scores.importance, scores.layers, model.config)).float()
        done.append(replace(c, one_shot_kl=ref.kl(student)))
        progress(f"candidate {i}/{len(candidates)}: {_describe(c.plan)}  KL {done[-1].one_shot_kl:.4f}")
    return PlanSearch(int(budget), tuple(sorted(done, key=lambda c: c.key)), _measured(windows))


def _measured(w: Calibration) -> dict:
    return {"windows": int(w.samples.shape[0]), "seq_len": int(w.samples.shape[1]), "tokens": int(w.samples.size),
            "sha256": w.sha256}


def _describe(p: PrunePlan) -> str:
    return f"{p.num_layers} layers, hidden {p.hidden_size}, ffn {p.ffn_dim}, heads {p.num_heads}/{p.num_kv_heads}"


def short_distill(teacher, student, train: Calibration, steps: int, lr: float = 1e-3, seed: int = 0) -> None:
    """``steps`` AdamW steps of forward-KL distillation of ``student`` on ``train``'s windows (in place).

    It runs edgeslm's training loop (warm-up, cosine decay, clipping), in a
    temporary folder for its one checkpoint. Batches cycle over the windows in order.
    """
    from edgeslm.distill import DistillConfig, make_loss
    from edgeslm.train.loop import TrainConfig, train as train_loop

    rows = torch.from_numpy(train.samples)  # (N, T)
    bs = min(train.batch_size, len(rows))
    cfg = TrainConfig(max_steps=steps, batch_size=bs, seq_len=rows.shape[1] - 1, lr=lr,
                      warmup_steps=max(1, steps // 10), ckpt_every=steps, eval_every=steps, seed=seed)

    def batches(step: int) -> dict:
        idx = [(step * bs + j) % len(rows) for j in range(bs)]
        return {"tokens": rows[idx]}

    teacher.eval()
    with tempfile.TemporaryDirectory(prefix="edgeslm-search-") as tmp:
        train_loop(student, batches, cfg, Path(tmp), loss_fn=make_loss(teacher, DistillConfig()),
                   progress=lambda _: None)
    student.eval()


def rerank_distilled(model, found: PlanSearch, scores, ref: TeacherLogProbs, train: Calibration, steps: int, *,
                     top: int = 3, also: Iterable[str] = (), teacher=None,
                     progress: Callable[[str], None] = lambda _: None) -> PlanSearch:
    """Distil the ``top`` one-shot candidates for ``steps`` steps each on ``train``, measure KL again against
    ``ref``, and rank those first by it; others keep their one-shot rank. ``also`` names kinds
    ("depth", "width", "mix") or baselines whose best one-shot candidate is distilled too. ``teacher``
    (default ``model``) is distilled from; ``ref`` holds its log-probs on the measuring windows."""
    if steps < 1:
        raise UsageError(f"--search-steps must be at least 1 to re-rank, not {steps}.")
    teacher = teacher if teacher is not None else model
    picked = list(found.candidates[:top])
    for label in also:
        first = next((c for c in found.candidates if label in (c.kind, c.baseline)), None)
        if first is not None and first not in picked:
            picked.append(first)
    again = []
    for i, c in enumerate(picked, 1):
        student = slice_model(model, c.plan, choose(c.plan, scores.importance, scores.layers, model.config)).float()
        short_distill(teacher, student, train, steps)
        again.append(replace(c, distilled_kl=ref.kl(student)))
        progress(f"distilled {i}/{len(picked)}: {_describe(c.plan)}  KL {c.one_shot_kl:.4f} -> {again[-1].distilled_kl:.4f}")
    rest = [c for c in found.candidates if c not in picked]
    return replace(found, candidates=tuple(sorted(again, key=lambda c: c.key)) + tuple(rest), search_steps=steps)


def split_windows(calib: Calibration) -> tuple[Calibration, Calibration]:
    """(windows to measure KL on, windows to distil on): the first SEARCH_WINDOWS (at most half), and the rest."""
    k = max(1, min(SEARCH_WINDOWS, len(calib.samples) // 2))
    return replace(calib, samples=calib.samples[:k]), replace(calib, samples=calib.samples[k:])


def find_plan(model, req: PruneRequest, spec: ModelSpec, calib: Calibration, scores: Scores, *, search_steps: int = 0,
              teacher=None, ref: TeacherLogProbs | None = None,
              progress: Callable[[str], None] = lambda _: None) -> PlanSearch:
    """Rank every architecture of ``model`` (``spec``) that fits ``req.target_params`` by KL to ``teacher``
    (default ``model``) on the first calibration windows; with ``search_steps``, re-rank the best after
    that many distillation steps on the other windows. ``ref``: the teacher's log-probs on those windows when
    the caller has them already (rounds keep one for every round). Raises UsageError (no plan fits, too few
    windows)."""
    measure, train = split_windows(calib)
    ref = ref if ref is not None else TeacherLogProbs(teacher if teacher is not None else model, measure)
    k = len(measure.samples)
    budget = budget_params(spec, req.target_params)
    cands = candidate_plans(spec, budget, req.round_to)
    progress(f"searching {len(cands)} architectures at the budget: one-shot KL on {k} windows")
    found = search_plans(model, cands, scores, ref, budget, progress=progress)
    if search_steps:
        if not len(train.samples):
            raise UsageError(f"--search-steps needs calibration windows to train on; give --calib-samples {2 * k} or more.")
        progress(f"re-ranking the best after {search_steps} distillation steps each")
        found = rerank_distilled(model, found, scores, ref, train, search_steps, teacher=teacher, progress=progress)
    return found


__all__ = ["Candidate", "PlanSearch", "candidate_plans", "find_plan", "search_plans", "rerank_distilled", "short_distill",
           "TeacherLogProbs"]
