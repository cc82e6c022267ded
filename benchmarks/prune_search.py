"""Where to cut for a budget: the plan search against the spec-only planner, depth only and width only,
and pruning in rounds against one cut, on a deep trained teacher.

    python benchmarks/prune_search.py [--teacher CKPT] [--steps 40] [--json out.json]

Default teacher: ~/.cache/edgeslm/deep12-teacher, a 12-layer Llama trained by
edgeslm on the stdlib corpus (the demo teacher has only 4 layers, too shallow to
judge depth against width). Make it once, outside the repo (about 20 min on 2 cores):

    edgeslm train -o ~/.cache/edgeslm/deep12-teacher --layers 12 --hidden-size 128 \\
        --heads 2 --kv-heads 1 --ffn 384 --max-steps 400 --no-bf16

1. At --budget (0.5) of the parameters, four plans: the search's choice (one-shot
   KL on 8 calibration windows), the spec-only planner's, the best depth-only and
   the best width-only candidate. Each is cut from the teacher with the same
   importance scores, then distilled --steps steps (forward KL, same windows, same
   order for all). KL(teacher || student) per token is measured on held-out
   stdlib *test* windows, before and after.
2. At --iter-budget (0.4): --rounds cuts with --round-steps distillation steps
   between them, then --steps more, against one cut followed by the same total
   number of steps. Both on the same training windows; held-out KL as above.

All numbers come from one run; the JSON keeps every row.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, default=Path.home() / ".cache" / "edgeslm" / "deep12-teacher")
    ap.add_argument("--budget", type=float, default=0.5)
    ap.add_argument("--iter-budget", type=float, default=0.4)
    ap.add_argument("--round-to", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40, help="distillation steps after the (last) cut")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--round-steps", type=int, default=40)
    ap.add_argument("--calib-samples", type=int, default=32)
    ap.add_argument("--train-samples", type=int, default=96)
    ap.add_argument("--eval-samples", type=int, default=24)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from edgeslm.calibrate import make_calibration
    from edgeslm.corpus import stdlib_corpus
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.prune import PruneRequest, prune, score
    from edgeslm.prune.report import compare
    from edgeslm.prune.rounds import prune_in_rounds
    from edgeslm.prune.search import find_plan, short_distill

    if not (args.teacher / "config.json").is_file():
        print(f"no teacher at {args.teacher}; make it as this script's --help says, or pass --teacher", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    ckpt = open_checkpoint(args.teacher)
    lm = load_model(ckpt)
    teacher, spec = lm.model, ckpt.spec
    corpus = stdlib_corpus()
    calib = make_calibration(lm.tokenizer, corpus.splits["train"], args.calib_samples, 256, seed=0)
    train = make_calibration(lm.tokenizer, corpus.splits["train"], args.train_samples, 256, seed=2)
    held = make_calibration(lm.tokenizer, corpus.splits["test"], args.eval_samples, 256, seed=1)
    held_kl = lambda m: compare(teacher, m, held)["mean_kl"]  # noqa: E731
    t0 = time.perf_counter()
    scores = score(teacher, calib.forward_loop, calib.loss)
    found = find_plan(teacher, PruneRequest(target_params=args.budget, round_to=args.round_to), spec, calib, scores,
                      progress=log)
    picks = {"search": found.best}
    for label, pred in (("spec-only planner", lambda c: c.baseline == "spec-only planner"),
                        ("depth only", lambda c: c.kind == "depth"), ("width only", lambda c: c.kind == "width")):
        c = next((c for c in found.candidates if pred(c)), None)
        if c is not None:
            picks[label] = c
    rows = {}
    for label, c in picks.items():
        student = prune(teacher, c.plan, calib.forward_loop, scores=scores).model.float()
        one = held_kl(student)
        short_distill(teacher, student, train, args.steps)
        rows[label] = {**c.to_dict(), "rank": found.candidates.index(c) + 1, "held_out_kl_one_shot": one,
                       "held_out_kl_distilled": held_kl(student)}
        log(f"{label:<18} {c.plan.num_layers}L h{c.plan.hidden_size} f{c.plan.ffn_dim} kv{c.plan.num_kv_heads} "
            f"{c.params:,}: one-shot {one:.4f} -> {rows[label]['held_out_kl_distilled']:.4f} after {args.steps} steps")

    # in rounds against one cut, with the same total distillation
    req = PruneRequest(target_params=args.iter_budget, round_to=args.round_to)
    total_steps = (args.rounds - 1) * args.round_steps + args.steps
    iterative = prune_in_rounds(teacher, spec, req, calib, rounds=args.rounds, round_steps=args.round_steps, progress=log)
    it_before = held_kl(iterative.model)
    short_distill(teacher, iterative.model, train, args.steps)
    one_cut = prune_in_rounds(teacher, spec, req, calib, rounds=1, round_steps=0, progress=log)
    oc_before = held_kl(one_cut.model)
    short_distill(teacher, one_cut.model, train, total_steps)
    rounds = {
        "rounds": {"rounds": args.rounds, "round_steps": args.round_steps, "final_steps": args.steps,
                   "plan": iterative.rounds[-1]["plan"], "params": iterative.rounds[-1]["params"],
                   "per_round": list(iterative.rounds), "held_out_kl_before_final": it_before,
                   "held_out_kl": held_kl(iterative.model)},
        "one_cut": {"steps": total_steps, "plan": one_cut.rounds[0]["plan"], "params": one_cut.rounds[0]["params"],
                    "held_out_kl_one_shot": oc_before, "held_out_kl": held_kl(one_cut.model)},
    }
    log(f"{args.iter_budget:.0%} in {args.rounds} rounds: {rounds['rounds']['held_out_kl']:.4f}; "
        f"one cut: {rounds['one_cut']['held_out_kl']:.4f} (both {total_steps} distillation steps)")

    result = {
        "teacher": {"path": str(args.teacher), "sha256": ckpt.sha256, "params": spec.num_params,
                    "layers": spec.num_layers, "hidden": spec.hidden_size, "ffn": spec.intermediate_size,
                    "heads": spec.num_heads, "kv_heads": spec.num_kv_heads, "vocab": spec.vocab_size},
        "budget": args.budget, "round_to": args.round_to, "distill_steps": args.steps,
        "windows": {"calibration": args.calib_samples, "train": args.train_samples, "held_out": args.eval_samples,
                    "seq_len": 256},
        "search": found.to_dict(), "plans": rows, "iter_budget": args.iter_budget, "pruning_in_rounds": rounds,
        "seconds": time.perf_counter() - t0, "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    print(f"{'plan':<18}{'layers':>7}{'hidden':>7}{'ffn':>6}{'kv':>4}{'params':>11}{'rank':>6}"
          f"{'search KL':>11}{'held-out KL':>13}{'after ' + str(args.steps) + ' steps':>16}")
    for label, r in rows.items():
        print(f"{label:<18}{r['layers']:>7}{r['hidden']:>7}{r['ffn']:>6}{r['kv_heads']:>4}{r['params']:>11,}{r['rank']:>6}"
              f"{r['one_shot_kl']:>11.4f}{r['held_out_kl_one_shot']:>13.4f}{r['held_out_kl_distilled']:>16.4f}")
    print(f"\n{args.iter_budget:.0%} of the parameters, {total_steps} distillation steps in all: "
          f"in {args.rounds} rounds {rounds['rounds']['held_out_kl']:.4f}, in one cut {rounds['one_cut']['held_out_kl']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
