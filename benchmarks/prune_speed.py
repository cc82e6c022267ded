"""Speed follows size: decode tokens/s of a pruned GGUF Q4_K_M against the unpruned one, in one run.

    python benchmarks/prune_speed.py [--model CKPT] [--threads 2] [--json out.json]

Default model: the demo teacher. The pruned model keeps half the MLP channels
and drops a quarter of the layers. Both are exported to Q4_K_M and timed by the
same method as verify (128-token prompt, 128 new tokens, warm-up, median).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "examples" / "demo-teacher")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from edgeslm.corpus import stdlib_corpus
    from edgeslm.export import GGUFConfig, export
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint
    from edgeslm.verify.throughput import measure_in_subprocess

    work = Path(tempfile.mkdtemp(prefix="edgeslm-prune-speed-"))
    src = open_checkpoint(args.model)
    corpus = stdlib_corpus()
    req = PruneRequest(ffn_dim=src.spec.intermediate_size // 2, drop_layers=max(1, src.spec.num_layers // 4))
    prune_checkpoint(src, work / "pruned", req, corpus.splits["train"], corpus.splits["test"], calib_samples=32,
                     progress=lambda m: print(m, file=sys.stderr))
    prompt = list(range(10, 138))
    rows = {}
    for name, ck in (("unpruned", src), ("pruned", open_checkpoint(work / "pruned"))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            art = export(ck, GGUFConfig("Q4_K_M"), work / f"{name}.gguf")
        sp = measure_in_subprocess(art.path, args.threads, prompt, 128, args.runs)
        rows[name] = {"params": ck.spec.num_params, "mib": art.size_bytes / (1 << 20), **sp.to_dict()}
    print(f"\n{'model':<10}{'params':>12}{'MiB':>8}{'prefill t/s':>13}{'decode t/s':>12}")
    for name, r in rows.items():
        print(f"{name:<10}{r['params']:>12,}{r['mib']:>8.1f}{r['prefill_tps']:>13.0f}{r['decode_tps']:>12.1f}")
    ratio = {k: rows["pruned"][k] / rows["unpruned"][k] for k in ("params", "mib", "prefill_tps", "decode_tps")}
    print("pruned/unpruned: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
