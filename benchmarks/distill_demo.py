"""Distillation vs cross-entropy on the demo teacher, same student, same tokens.

    python benchmarks/distill_demo.py [--steps 150] [--batch-size 16] [--out benchmarks/results]

The student is the demo teacher pruned to half its parameters (edgeslm prune
--target-params 0.5). Two runs from that same student see the same windows in
the same order: one with pure logit KD (kd_weight 1), one with cross-entropy
only (kd_weight 0). Held-out KL to the teacher, perplexity and top-1 agreement
are plotted in one PNG; both students and the teacher are then scored on the
stdlib *test* split (next-token top-1 accuracy), for the "90% of the teacher"
question. Writes distill_demo.json and distill_demo.png.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_accuracy(model_dir: Path, text, seq_len: int, windows: int) -> dict:
    from edgeslm.distill import encode
    from edgeslm.models.loader import load_model
    from edgeslm.train.batches import eval_windows
    from edgeslm.train.loop import TokenEval, run_eval

    m = load_model(model_dir)
    w = eval_windows(encode(m.tokenizer, text), seq_len, windows)
    return run_eval(m.model.float(), TokenEval(w))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, default=ROOT / "examples" / "demo-teacher")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--test-windows", type=int, default=256)
    ap.add_argument("--work", type=Path, help="Keep the students here (default: a temporary folder).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()

    import torch

    from edgeslm.corpus import stdlib_corpus
    from edgeslm.distill import DistillConfig, distill_checkpoints
    from edgeslm.distill.losses import KDConfig
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint
    from edgeslm.train.loop import TrainConfig
    from edgeslm.train.plot import plot_compare

    work = args.work or Path(tempfile.mkdtemp(prefix="edgeslm-distill-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = stdlib_corpus()
    teacher = open_checkpoint(args.teacher)
    half = work / "half"
    if not half.exists():
        prune_checkpoint(teacher, half, PruneRequest(target_params=0.5), corpus.splits["train"], corpus.splits["test"],
                         progress=print)
    student = open_checkpoint(half)
    tcfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=1e-3, bf16=True,
                       warmup_steps=min(50, max(1, args.steps // 10)), eval_every=args.eval_every,
                       ckpt_every=args.eval_every)
    runs, wall = {}, {}
    for name, w in (("KD (kd_weight 1)", 1.0), ("cross-entropy only (kd_weight 0)", 0.0)):
        t0 = time.perf_counter()
        out = work / f"kd{w:g}"
        runs[name] = distill_checkpoints(teacher, student, out, corpus.splits["train"], corpus.splits["validation"],
                                         DistillConfig(KDConfig(), w), tcfg, resume=(out / "run" / "last").exists(),
                                         progress=print).curves
        wall[name] = time.perf_counter() - t0
    tokens = tcfg.tokens_per_step
    plot_compare(runs, [("kl", "held-out KL(teacher || student), nats/token"), ("ppl", "held-out perplexity"),
                        ("top1", "top-1 agreement with the teacher")], args.out / "distill_demo.png",
                 f"{student.spec.num_params / 1e6:.1f}M student (demo teacher pruned to half), {tokens:,} tokens/step")
    test = {"teacher": test_accuracy(args.teacher, corpus.splits["test"], args.seq_len, args.test_windows)}
    for name, w in (("KD (kd_weight 1)", 1.0), ("cross-entropy only (kd_weight 0)", 0.0)):
        test[name] = test_accuracy(work / f"kd{w:g}", corpus.splits["test"], args.seq_len, args.test_windows)
    test["pruned, not trained"] = test_accuracy(half, corpus.splits["test"], args.seq_len, args.test_windows)
    result = {
        "teacher_params": teacher.spec.num_params, "student_params": student.spec.num_params,
        "train": {"steps": args.steps, "tokens_per_step": tokens, "tokens": args.steps * tokens, "seq_len": args.seq_len},
        "curves": {n: r.evals for n, r in runs.items()},
        "train_tokens_per_s": {n: r.tokens_per_s for n, r in runs.items()}, "wall_s": wall,
        "test_split": {n: {k: round(v, 5) for k, v in m.items()} for n, m in test.items()},
        "test_acc_vs_teacher": {n: m["acc"] / test["teacher"]["acc"] for n, m in test.items() if n != "teacher"},
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    (args.out / "distill_demo.json").write_text(json.dumps(result, indent=1))
    for n, m in test.items():
        print(f"{n:<36} test ppl {math.exp(m['ce']):8.2f}   next-token acc {m['acc']:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
