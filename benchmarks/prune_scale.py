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

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from edgeslm.corpus import stdlib_corpus
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.models.tiny import train_tokenizer
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint
    from edgeslm.util import peak_rss_mib

    work = Path(tempfile.mkdtemp(prefix="edgeslm-prune-scale-"))
    corpus = stdlib_corpus()
    tok = train_tokenizer("smollm", 4096, corpus.splits["validation"].text)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                      max_position_embeddings=2048, rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    n = sum(p.numel() for p in model.parameters())
    src = work / "smollm2-135m-shape"
    model.save_pretrained(src)
    # the tokenizer's 4096 ids index into the 49152-row embedding; fine for a timing run
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(src)
    del model
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
