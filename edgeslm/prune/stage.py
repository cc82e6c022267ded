"""`edgeslm prune`: load, calibrate, prune, measure, and write the smaller checkpoint."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from edgeslm import __version__
from edgeslm.calibrate import make_calibration
from edgeslm.data import TextSet
from edgeslm.errors import UsageError
from edgeslm.export.base import copy_tokenizer
from edgeslm.outputs import check_output, stage_output
from edgeslm.models.loader import CheckpointDir, load_model, open_checkpoint
from edgeslm.prune import PruneRequest, PruneResult, prune, resolve, score, single_part_plans
from edgeslm.prune.apply import choose, slice_model
from edgeslm.prune.record import PrunedCheckpoint, PruneRecord
from edgeslm.prune.report import compare, rounded
from edgeslm.prune.rounds import prune_in_rounds
from edgeslm.prune.search import PlanSearch, find_plan

ROUND_STEPS = 50  # distillation steps between rounds (--round-steps); rounds are off by default, see benchmarks/prune_search.py

def search_checkpoint(ckpt: CheckpointDir, req: PruneRequest, calib_text: TextSet, *, calib_samples: int = 64,
                      seq_len: int = 256, layer_metric: str = "block-influence", search_steps: int = 0,
                      progress: Callable[[str], None] = lambda _: None) -> PlanSearch:
    """`edgeslm prune --plan` with a budget: the ranked candidates, writing nothing. Raises as prune_checkpoint."""
    resolve(req, ckpt.spec)
    progress(f"loading {ckpt.name}")
    src = load_model(ckpt)
    calib = make_calibration(src.tokenizer, calib_text, calib_samples, min(seq_len, ckpt.spec.max_position_embeddings))
    progress(f"scoring structures on {calib_samples} calibration windows of {calib.samples.shape[1]} tokens")
    scores = score(src.model, calib.forward_loop, calib.loss, layer_metric=layer_metric)
    return find_plan(src.model, req, ckpt.spec, calib, scores, search_steps=search_steps, progress=progress)


def prune_checkpoint(
    ckpt: CheckpointDir,
    out: Path,
    req: PruneRequest,
    calib_text: TextSet,
    eval_text: TextSet,
    *,
    calib_samples: int = 64,
    seq_len: int = 256,
    eval_samples: int = 32,
    layer_metric: str = "block-influence",
    random_seed: int | None = None,
    search_steps: int = 0,
    rounds: int = 1,
    round_steps: int = ROUND_STEPS,
    overwrite: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> PrunedCheckpoint:
    """Prune ``ckpt`` per ``req`` into the stage folder OUT (weights, tokenizer, prune_record.json, stage.json).

    With a parameter budget (``req.target_params``) the plan is searched for
    (find_plan) and the ranked candidates go into the record; with ``rounds`` > 1
    the budget is reached in that many cuts with ``round_steps`` distillation steps
    from the source between them (prune_in_rounds), each round recorded.
    OUT follows the output rule (edgeslm/outputs.py); ``overwrite`` replaces an
    earlier edgeslm output there, once the new one is complete. Raises
    UsageError (a plan the model cannot take), OutputPathError, ModelLoadError.
    """
    import torch

    plan = resolve(req, ckpt.spec)
    if rounds > 1 and req.target_params is None:
        raise UsageError("--rounds needs a budget: give --target-params.")
    check_output(out, folder=True, inputs=[ckpt.path], overwrite=overwrite)  # before minutes of work, not after
    progress(f"loading {ckpt.name}")
    src = load_model(ckpt)
    dtype = next(src.model.parameters()).dtype
    calib = make_calibration(src.tokenizer, calib_text, calib_samples, min(seq_len, ckpt.spec.max_position_embeddings))
    evalw = make_calibration(src.tokenizer, eval_text, eval_samples, min(seq_len, ckpt.spec.max_position_embeddings), seed=1)
    t0 = time.perf_counter()
    progress(f"scoring structures on {calib_samples} calibration windows of {calib.samples.shape[1]} tokens")
    found, history = None, ()
    if req.target_params is not None:
        done = prune_in_rounds(src.model, ckpt.spec, req, calib, rounds=rounds, round_steps=round_steps,
                               search_steps=search_steps, layer_metric=layer_metric, random_seed=random_seed,
                               progress=progress)
        found, history = done.search, done.rounds if rounds > 1 else ()
        by = "KL after distillation" if found.search_steps else "one-shot KL"
        plan = replace(done.plan, notes=(f"budget {found.budget:,} parameters: the best of {len(found.candidates)} "
                                         f"architectures by {by}, with {found.best.params:,}"
                                         + (f", reached in {rounds} rounds" if rounds > 1 else ""),))
        res = PruneResult(done.model, plan, done.keep, done.first_scores.importance, done.first_scores.layers,
                          layer_metric)
    else:
        res = prune(src.model, plan, calib.forward_loop, calib.loss, layer_metric=layer_metric, random_seed=random_seed)
    prune_s = time.perf_counter() - t0

    progress(f"measuring on {eval_samples} evaluation windows")
    report = {"all": compare(src.model, res.model, evalw)}
    gen = torch.Generator().manual_seed(random_seed) if random_seed is not None else None
    # one part at a time only means something for a single cut from the source
    for part, p in (single_part_plans(plan, ckpt.spec) if not history else {}).items():
        keep = choose(p, res.importance, res.layer_scores, src.model.config, generator=gen)
        report[part] = compare(src.model, slice_model(src.model, p, keep), evalw)

    record = PruneRecord(
        source={"name": ckpt.name, "path": str(ckpt.path), "sha256": ckpt.sha256, "spec": ckpt.spec.to_dict()},
        request=asdict(req),
        plan=asdict(plan),
        selection="importance" if random_seed is None else f"random (seed {random_seed})",
        layer_metric=res.layer_metric,
        calibration=calib.to_dict(),
        evaluation=evalw.to_dict(),
        importance={"layers": rounded(res.layer_scores), "mlp": [rounded(r) for r in res.importance.mlp],
                    "heads": [rounded(r) for r in res.importance.heads], "hidden": rounded(res.importance.hidden)},
        kept=res.keep,
        report=report,
        params={"before": ckpt.spec.num_params, "after": int(sum(p.numel() for p in res.model.parameters()))},
        prune_seconds=prune_s,
        edgeslm_version=__version__,
        search=found.to_dict() if found is not None else None,
        rounds=list(history),
    )
    progress(f"writing {out}")
    config = {"request": asdict(req), "calib_samples": calib_samples, "seq_len": seq_len, "eval_samples": eval_samples,
              "layer_metric": layer_metric, "random_seed": random_seed, "search_steps": search_steps,
              **({"rounds": rounds, "round_steps": round_steps} if rounds > 1 else {})}
    inputs = {"source": ckpt.sha256, "calibration": calib_text.sha256, "eval": eval_text.sha256}
    with stage_output(out, "prune", config, inputs) as tmp:
        res.model.to(dtype).save_pretrained(tmp, safe_serialization=True)
        copy_tokenizer(ckpt, tmp)
        record.write(tmp)
    return PrunedCheckpoint(open_checkpoint(out), PruneRecord.read(out))  # as later stages will read it
