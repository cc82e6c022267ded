"""Prefill and decode tokens/s of GGUF F16, Q8_0 and Q4_K_M against PyTorch eager fp32.

One run, one model, one machine: only the ratios are meant to travel.

    python benchmarks/gguf_vs_pytorch.py [--model CKPT] [--threads 2] [--json out.json]

Without --model it builds a seeded random 33.6M-parameter Llama (hidden 512,
8 layers, GQA 8/4, vocab 8192) with a tokenizer trained on the stdlib.
Each GGUF is timed in its own process (edgeslm.runners.bench), PyTorch in this
one, all with the same method: 128-token prompt, 128 greedy tokens, one
warm-up, median of --runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="checkpoint directory (default: a random 33.6M Llama)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quants", default="F16,Q8_0,Q4_K_M")
    ap.add_argument("--json", type=Path, help="write results here")
    args = ap.parse_args()

    import torch

    from edgeslm.export import GGUFConfig, export
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.models.tiny import TinyConfig, build_tiny_model, default_training_text, train_tokenizer
    from edgeslm.runners import measure_speed
    from edgeslm.runners.torch import TorchRunner
    from edgeslm.verify.throughput import measure_in_subprocess

    work = Path(tempfile.mkdtemp(prefix="edgeslm-bench-"))
    model = args.model
    if model is None:
        print("building a random 33.6M Llama ...", file=sys.stderr)
        cfg = TinyConfig(hidden_size=512, intermediate_size=1536, num_layers=8, num_heads=8, num_kv_heads=4,
                         vocab_size=8192, init_std=0.02)
        model = build_tiny_model(cfg, work / "model", tokenizer=train_tokenizer("gpt2", 8192, default_training_text()))
    ckpt = open_checkpoint(model)
    prompt = list(range(10, 10 + 128))  # token ids: tokenization is never timed

    torch.set_num_threads(args.threads)
    ref = TorchRunner(load_model(ckpt), threads=args.threads)
    rows = {"pytorch-eager-fp32": measure_speed(ref, prompt, 128, args.runs).to_dict()}
    for q in args.quants.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            art = export(ckpt, GGUFConfig(q), work / f"model-{q}.gguf")
        print(f"timing gguf {q} ...", file=sys.stderr)
        rows[f"gguf-{q}"] = measure_in_subprocess(art.path, args.threads, prompt, 128, args.runs).to_dict()

    base = rows["pytorch-eager-fp32"]
    print(f"\n{ckpt.spec.num_params / 1e6:.1f}M params, {args.threads} threads, median of {args.runs}\n")
    print(f"{'runtime':<22}{'prefill t/s':>12}{'decode t/s':>12}{'prefill x':>11}{'decode x':>10}")
    for name, r in rows.items():
        r["prefill_vs_pytorch"] = r["prefill_tps"] / base["prefill_tps"]
        r["decode_vs_pytorch"] = r["decode_tps"] / base["decode_tps"]
        print(f"{name:<22}{r['prefill_tps']:>12.0f}{r['decode_tps']:>12.1f}{r['prefill_vs_pytorch']:>10.2f}x{r['decode_vs_pytorch']:>9.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"params": ckpt.spec.num_params, "threads": args.threads, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
