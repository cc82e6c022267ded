"""ExecuTorch quantization choices on the outlier model, measured in PyTorch eager in seconds, not lowered.

    python benchmarks/et_eager.py [--layers 30] [--only LABEL,...] [--json out.json]

Lowering one 135M .pte takes 17-58 minutes on 2 cores, so a sweep of
SmoothQuant alpha, head smoothing, channel reordering and embedding bits and
groups cannot be run through the runtime. The same torchao quantization
(edgeslm's 8da4w/8da8w linear transform) and ExecuTorch's own embedding
quantizer are applied to the Hugging Face model instead, and the mean KL and
top-1 against fp32 are measured on the held-out 2,048 tokens (8 windows of
256). The proxy is faithful where it was checked: 8da8w, alpha 0.5, 8-bit
per-row embedding gives KL 0.0407 here and 0.0409 from the lowered program in
ExecuTorch's runtime (benchmarks/real_size.py). The choices that win here are
then lowered and measured for real by real_size.py.

Not covered: the measured-sensitive linears at 8 bits (--int8-fraction) of a
calibrated 8da4w, which real_size.py measures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

# label, weight bits, SmoothQuant alpha (0: none), embedding "bits,group" ("": fp32), smooth head, reorder,
# head bits (8da4w)
VARIANTS = [
    ("8da8w", 8, 0, "", False, False, 8),
    ("8da8w a0.5", 8, 0.5, "", False, False, 8),
    ("8da8w a0.5 +head", 8, 0.5, "", True, False, 8),
    ("8da8w a0.5 emb8/row", 8, 0.5, "8,0", False, False, 8),
    ("8da8w a0.5 +head +reorder emb8/row", 8, 0.5, "8,0", True, True, 8),
    ("8da8w a0.5 +head +reorder emb8/32", 8, 0.5, "8,32", True, True, 8),
    ("8da8w a0.5 +head +reorder emb8/96", 8, 0.5, "8,96", True, True, 8),
    ("8da8w a0.5 +head +reorder emb8/144", 8, 0.5, "8,144", True, True, 8),
    ("8da8w a0.7 +head +reorder emb8/96", 8, 0.7, "8,96", True, True, 8),
    ("8da4w a0.5", 4, 0.5, "", False, False, 8),
    ("8da4w a0.5 emb4/32", 4, 0.5, "4,32", False, False, 8),
    ("8da4w a0.5 +reorder emb4/32", 4, 0.5, "4,32", False, True, 8),
    ("8da4w a0.5 +head +reorder emb4/32", 4, 0.5, "4,32", True, True, 8),
    ("8da4w a0.5 +head +reorder emb8/32", 4, 0.5, "8,32", True, True, 8),
    ("8da4w a0.5 +head +reorder emb8/32 head4", 4, 0.5, "8,32", True, True, 4),
    ("8da4w a0.5 +head +reorder head4", 4, 0.5, "", True, True, 4),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=30, help="depth of the outlier model (SmolLM2-135M: 30)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated labels to run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    labels = [v[0] for v in VARIANTS]
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    if unknown := [w for w in wanted if w not in labels]:
        ap.error(f"--only {', '.join(map(repr, unknown))} names no row; rows: {'; '.join(labels)}")

    import torch

    from edgeslm.calibrate import make_calibration
    from edgeslm.corpus import stdlib_corpus
    from edgeslm.export.executorch import _linear_quantization
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.models.outliers import SMOLLM2_135M, OutlierConfig, build_outlier_model
    from edgeslm.quantize.smooth import smooth_checkpoint
    from edgeslm.util import cache_root

    torch.set_num_threads(args.threads)
    corpus = stdlib_corpus()
    cfg = OutlierConfig(shape={**SMOLLM2_135M, "num_hidden_layers": args.layers})
    model_dir = cache_root() / "outlier-models" / f"smollm2-shape-{args.layers}l-seed{cfg.seed}"
    if not (model_dir / "model.safetensors").is_file():  # real_size.py's cache: the same model
        model_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=model_dir.parent))
        build_outlier_model(cfg, tmp, corpus.splits["train"].text)
        tmp.rename(model_dir)
    ckpt = open_checkpoint(model_dir)
    ref = load_model(ckpt)
    text = corpus.splits["test"].text
    ids = torch.tensor(ref.tokenizer.encode(text[:40000], add_special_tokens=False)[:2048]).reshape(8, 256)
    with torch.no_grad():
        ref_lp = torch.log_softmax(ref.model.float()(ids, use_cache=False).logits.float(), -1)
    calib = make_calibration(ref.tokenizer, corpus.splits["train"], n_samples=32, seq_len=256)

    rows = {}
    for label, bits, alpha, emb, head, reorder, head_bits in VARIANTS:
        if wanted and label not in wanted:
            continue
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="edgeslm-eager-") as tmp:
            src = smooth_checkpoint(ckpt, calib, Path(tmp) / "s", alpha=alpha, head=head, reorder=reorder)[0] \
                if alpha else ckpt
            model = load_model(src).model.float().eval()
        # ExecuTorch stores the head apart from the embedding, so each is quantized on its own here too
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
        _linear_quantization(bits, 32 if bits == 4 else 0, head_bits, head="lm_head")(model)
        if emb:
            from executorch.examples.models.llama.source_transformation.quantize import get_quant_embedding_transform

            with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per table
                get_quant_embedding_transform(emb)(model)
        with torch.no_grad():
            lp = torch.log_softmax(model(ids, use_cache=False).logits.float(), -1)
        kl = float((ref_lp.exp() * (ref_lp - lp)).sum(-1).mean())
        top1 = float((lp.argmax(-1) == ref_lp.argmax(-1)).float().mean())
        rows[label] = {"bits": bits, "alpha": alpha, "embedding": emb or None, "smooth_head": head,
                       "reorder": reorder, "head_bits": head_bits, "mean_kl": kl, "top1": top1,
                       "seconds": time.perf_counter() - t0}
        print(f"{label:<44}{kl:>9.4f}{100 * top1:>7.1f}%", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"model": str(model_dir), "eval_tokens": 2048, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
