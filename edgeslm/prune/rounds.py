"""Iterative pruning: reach a budget in rounds, with distillation from the source between them.

    done = prune_in_rounds(model, spec, PruneRequest(target_params=0.4), calib, rounds=3, round_steps=50)
    done.model, done.keep  # the student, and what it kept in the source's numbering

Each round removes the same share of what is left (the budget is split
geometrically), searches its plan on the model the last round left (importance is measured
again there; candidates are ranked by KL to the source), and is distilled from the source before
the next cut, so no single cut has to remove more than the model can recover.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch

from edgeslm.calibrate import Calibration
from edgeslm.errors import UsageError
from edgeslm.models.spec import ModelSpec, spec_from_config
from edgeslm.prune import PruneResult, Scores, prune, score
from edgeslm.prune.apply import Keep
from edgeslm.prune.plan import PrunePlan, PruneRequest, budget_params
from edgeslm.prune.search import PlanSearch, TeacherLogProbs, find_plan, short_distill, split_windows

@dataclass(frozen=True)
class Rounds:
    """The student after the last round, what it keeps of the source, and each round's numbers."""

    model: torch.nn.Module
    plan: PrunePlan  # the last round's plan: the student's sizes
    keep: Keep  # in the source's numbering
    first_scores: Scores  # importance measured on the source (the record's scores)
    search: PlanSearch  # the last round's ranked candidates
    rounds: tuple[dict, ...]  # round, budget, sizes, params, kl_to_source before/after its distillation


def prune_in_rounds(model, spec: ModelSpec, req: PruneRequest, calib: Calibration, *, rounds: int, round_steps: int,
                    search_steps: int = 0, layer_metric: str = "block-influence", random_seed: int | None = None,
                    progress: Callable[[str], None] = lambda _: None) -> Rounds:
    """Prune ``model`` to ``req.target_params`` in ``rounds`` cuts with ``round_steps`` distillation steps
    after every cut but the last (the user's distill stage comes after). KL to the source is measured on
    the search's windows. Raises UsageError (no budget, rounds < 1, no windows to distil on)."""
    if req.target_params is None:
        raise UsageError("--rounds needs a budget: give --target-params.")
    if rounds < 1:
        raise UsageError(f"--rounds must be at least 1, not {rounds}.")
    measure, train = split_windows(calib)
    if rounds > 1 and round_steps > 0 and not len(train.samples):
        raise UsageError(f"pruning in rounds distils between them on calibration windows; give --calib-samples "
                         f"{2 * len(measure.samples)} or more, or --rounds 1.")
    total, budget = spec.num_params, budget_params(spec, req.target_params)
    source = TeacherLogProbs(model, measure)
    cur, cur_spec, keep, first, log = model, spec, None, None, []
    for r in range(1, rounds + 1):
        target = budget if r == rounds else total * (budget / total) ** (r / rounds)
        progress(f"round {r}/{rounds}: to {target:,.0f} parameters ({target / total:.0%})")
        scores = score(cur, calib.forward_loop, calib.loss, layer_metric=layer_metric)
        first = first or scores
        found = find_plan(cur, replace(req, target_params=target), cur_spec, calib, scores, search_steps=search_steps,
                          teacher=model, ref=source, progress=progress)
        res: PruneResult = prune(cur, found.best.plan, calib.forward_loop, random_seed=random_seed, scores=scores)
        keep = res.keep if keep is None else keep.then(res.keep)
        entry = {"round": r, "budget": int(target), "plan": {k: v for k, v in asdict(found.best.plan).items() if k != "notes"},
                 "params": found.best.params, "kl_to_source": source.kl(res.model), "distill_steps": 0}
        if r < rounds and round_steps > 0:
            progress(f"round {r}/{rounds}: distilling {round_steps} steps from the source")
            short_distill(model, res.model, train, round_steps)
            entry.update(distill_steps=round_steps, kl_to_source_after=source.kl(res.model))
        log.append(entry)
        cur, cur_spec = res.model, spec_from_config(res.model.config.to_dict())
    return Rounds(cur, found.best.plan, keep, first, found, tuple(log))
