"""Pruning past toy sizes: a random model of SmolLM2-135M's shape, timed, with peak memory.

    python benchmarks/prune_scale.py [--json out.json]

Shape: hidden 576, 30 layers, 9 heads / 3 KV heads, ffn 1536, vocab 49152, tied
embeddings (~135M parameters). The plan halves the MLP, drops 10 layers and
removes one KV group, using 64 calibration windows of 256 tokens from the
stdlib train split. Peak RSS is this process's, in MiB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--calib-samples", type=int, default=64)
    args = ap.parse_args()

    from shapes import smollm2_135m

    from edgeslm.corpus import stdlib_corpus
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint
    from edgeslm.util import peak_rss_mib

    work = Path(tempfile.mkdtemp(prefix="edgeslm-prune-scale-"))
    corpus = stdlib_corpus()
    src = smollm2_135m(work / "smollm2-135m-shape", corpus.splits["validation"].text)
    n = open_checkpoint(src).spec.num_params
    print(f"source: {n / 1e6:.1f}M parameters at {src}", file=sys.stderr)

    t0 = time.perf_counter()
    pruned = prune_checkpoint(
        open_checkpoint(src), work / "pruned",
        PruneRequest(ffn_dim=768, drop_layers=10, num_kv_heads=2), corpus.splits["train"], corpus.splits["test"],
        calib_samples=args.calib_samples, seq_len=256, eval_samples=8, progress=lambda m: print(m, file=sys.stderr),
    )
    wall = time.perf_counter() - t0
    rec = pruned.record
    out = {"params_before": rec.params["before"], "params_after": rec.params["after"], "wall_s": round(wall, 1),
           "prune_s": round(rec.prune_seconds, 1), "peak_rss_mib": round(peak_rss_mib(), 0)}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
