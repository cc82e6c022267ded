"""Training tokens/s for one student three ways, and what a top-k teacher cache costs and keeps.

    python benchmarks/distill_throughput.py [--student CKPT] [--steps 12] [--json out.json]
    python benchmarks/distill_throughput.py --shape smollm2-135m --batch-size 1 --steps 6 --precision fp32 bf16

Same student, same windows, same batch: (1) the teacher online, (2) a cached
top-k teacher (no teacher in memory), (3) cross-entropy only. Each step is
timed after two warm-up steps; medians are reported, and ratios to (3) are
what travel between machines. It also measures, on held-out windows, the
distillation loss from top-32/top-64 caches against the full-logit loss, and
the bytes each costs per token.

Default student: the demo teacher pruned to half its parameters. With
`--shape smollm2-135m` the teacher is a random model of SmolLM2-135M's shape
(benchmarks/shapes.py) and the student is it pruned to about half (ffn 768,
20 layers, 2 KV groups): real sizes, so the vocabulary-sized softmax and the
teacher's forward cost what they cost at 135M. `--precision bf16` trains under
bf16 autocast; on a CPU without AVX-512 BF16 that is emulated, so the JSON
records the CPU's flags beside the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_has_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic (AVX-512 BF16 or AMX); without it autocast emulates bf16."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, default=ROOT / "examples" / "demo-teacher")
    ap.add_argument("--student", type=Path, help="Default: the teacher pruned to half (made here).")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2, help="Steps not timed (the first pays for allocation).")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--shape", choices=["smollm2-135m"], help="A random teacher of this real shape instead of --teacher.")
    ap.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import numpy as np
    import torch

    from edgeslm.corpus import stdlib_corpus
    from edgeslm.distill import DistillConfig, make_cached_loss, make_loss, prepare_data, split_text
    from edgeslm.distill.cache import teacher_topk
    from edgeslm.distill.losses import KDConfig, kd_loss, kd_loss_topk
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.train.batches import WindowSet
    from edgeslm.train.loop import TrainConfig, cross_entropy, train

    work = Path(tempfile.mkdtemp(prefix="edgeslm-distill-speed-"))
    corpus = stdlib_corpus()
    if args.shape:
        from shapes import smollm2_135m

        args.teacher = smollm2_135m(work / args.shape, corpus.splits["validation"].text)
    teacher_ckpt = open_checkpoint(args.teacher)
    if args.student is None:
        from edgeslm.prune import PruneRequest
        from edgeslm.prune.stage import prune_checkpoint

        args.student = work / "half"
        # a fixed plan at 135M: searching it would cost more than the benchmark
        req = PruneRequest(ffn_dim=768, drop_layers=10, num_kv_heads=2) if args.shape else PruneRequest(target_params=0.5)
        prune_checkpoint(teacher_ckpt, args.student, req, corpus.splits["train"],
                         corpus.splits["test"], calib_samples=8 if args.shape else 32, seq_len=128, eval_samples=2)
    teacher = load_model(teacher_ckpt).model.float().requires_grad_(False)
    tok = load_model(args.student).tokenizer
    tcfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=1e-3, warmup_steps=1,
                       ckpt_every=10_000, eval_every=10_000)
    data = prepare_data(*split_text(tok, corpus.splits["train"], corpus.splits["validation"]), tcfg)
    windows = data.train[: args.steps * args.batch_size]

    t0 = time.perf_counter()
    cache = teacher_topk(teacher, windows, 64, 1.0)
    cache_s = time.perf_counter() - t0

    def timed(name, batches, loss_fn, cfg):
        student = load_model(args.student).model.float()
        stamps = []
        train(student, batches, cfg, work / name, loss_fn=loss_fn, progress=lambda _: None,
              on_step=lambda i: stamps.append(time.perf_counter()))
        steps = np.diff(stamps)[max(args.warmup - 1, 0):]  # the first stamp ends step 1
        return cfg.tokens_per_step / statistics.median(steps)

    cfg = DistillConfig(KDConfig(), 1.0)
    by_precision = {}
    for precision in args.precision:
        pcfg = dataclasses.replace(tcfg, bf16=precision == "bf16")
        by_precision[precision] = {
            "online teacher": timed("online", WindowSet({"tokens": windows}, args.batch_size, 0), make_loss(teacher, cfg), pcfg),
            "cached top-64 teacher": timed("cached", WindowSet(cache, args.batch_size, 0), make_cached_loss(cfg), pcfg),
            "cross-entropy only": timed("ce", WindowSet({"tokens": windows}, args.batch_size, 0), cross_entropy, pcfg),
        }
        print(precision, json.dumps(by_precision[precision]), file=sys.stderr)
    tps = by_precision[args.precision[0]]

    # top-k vs full distillation loss for the (untrained) student, on held-out windows
    student = load_model(args.student).model.float()
    held = data.validation[: 4 if args.shape else 16]
    x = torch.from_numpy(held[:, :-1])
    with torch.no_grad():
        s, t = student(x).logits.flatten(0, 1), teacher(x).logits.flatten(0, 1)
        full = float(kd_loss(s, t, KDConfig()))
        topk = {}
        for k in (32, 64):
            c = teacher_topk(teacher, held, k, 1.0)
            topk[k] = float(kd_loss_topk(s, torch.from_numpy(c["topk_idx"].astype(np.int64)).flatten(0, 1),
                                         torch.from_numpy(c["topk_logp"]).flatten(0, 1), torch.from_numpy(c["rest_logp"]).flatten(),
                                         KDConfig()))
    vocab = teacher.config.vocab_size
    result = {
        "student": str(args.student), "student_params": open_checkpoint(args.student).spec.num_params,
        "teacher_params": teacher_ckpt.spec.num_params, "batch": [args.batch_size, args.seq_len],
        "train_tokens_per_s_median": tps if len(by_precision) == 1 else by_precision,
        "relative_to_ce_only": {p: {k: v / t["cross-entropy only"] for k, v in t.items()} for p, t in by_precision.items()},
        "cache_build_tokens_per_s": windows[:, 1:].size / cache_s,
        "kd_loss_full": full, "kd_loss_topk": topk, "topk_over_full": {k: v / full for k, v in topk.items()},
        "bytes_per_token": {"full fp32 logits": vocab * 4, **{f"top-{k} cache": k * 4 + 2 for k in (32, 64)}},
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "cpu_bf16_native": cpu_has_bf16(),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
