"""Every format and quant type against PyTorch eager and llama.cpp Q4_K_M, in one run.

    python benchmarks/all_formats.py [--model CKPT] [--threads 2] [--json out.json] [--png out.png]
                                     [--formats gguf,executorch,onnx] [--compare-llama SITE_DIR --rounds 5]

Without --model it builds a seeded random 33M-parameter Llama (hidden 512,
8 layers, GQA 8/4, vocab 8192). Each artifact is timed in its own process
with the method verify uses (128-token prompt, 128 greedy tokens, one warm-up,
median of --runs); PyTorch eager runs in this process with a DynamicCache.

Library paths: edgeslm's ExecuTorch export *is* ExecuTorch's LLM export (its
Transformer, source transforms and XNNPACK lowering) and its ONNX artifacts are
onnxruntime-genai's builder output, so the library path produces the same
files. For ExecuTorch, the official C++ TextLLMRunner's own timer is reported
beside edgeslm's timing of the same program. ONNX int4 is timed twice: with the
output head in fp32 (edgeslm's default) and quantized (--quantize-lm-head, the
like-for-like comparison with Q4_K_M, whose output tensor is Q6_K).

--compare-llama SITE_DIR times every GGUF again with another llama-cpp-python
build installed in SITE_DIR (`pip install --target SITE_DIR WHEEL`), e.g. pip's
default -march=native build against the one scripts/install_llama_cpp.py makes.
The two builds alternate for --rounds rounds, so the machine's noise hits both
alike; the median of the rounds' medians and their ratio are reported.
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
    ap.add_argument("--model", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--formats", default="gguf,executorch,onnx", help="comma-separated formats to export and time")
    ap.add_argument("--compare-llama", type=Path, metavar="SITE_DIR", help="another llama-cpp-python build to time GGUFs with")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds for --compare-llama")
    args = ap.parse_args()

    import torch

    from edgeslm.export import ExecuTorchConfig, GGUFConfig, ONNXConfig, export
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.models.tiny import TinyConfig, build_tiny_model, default_training_text, train_tokenizer
    from edgeslm.runners import measure_speed
    from edgeslm.runners.executorch import text_runner_generate
    from edgeslm.runners.torch import TorchRunner
    from edgeslm.util import path_size
    from edgeslm.verify.throughput import measure_in_subprocess

    work = Path(tempfile.mkdtemp(prefix="edgeslm-bench-all-"))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model = args.model
    if model is None:
        log("building a random 33M Llama ...")
        cfg = TinyConfig(hidden_size=512, intermediate_size=1536, num_layers=8, num_heads=8, num_kv_heads=4,
                         vocab_size=8192, init_std=0.02, max_position_embeddings=1024)
        model = build_tiny_model(cfg, work / "model", tokenizer=train_tokenizer("gpt2", 8192, default_training_text()))
    ckpt = open_checkpoint(model)
    prompt = list(range(10, 138))

    torch.set_num_threads(args.threads)
    rows = {"pytorch eager fp32": measure_speed(TorchRunner(load_model(ckpt), threads=args.threads), prompt, 128, args.runs).to_dict()}
    configs = {
        "gguf Q8_0": GGUFConfig("Q8_0"), "gguf Q4_K_M": GGUFConfig("Q4_K_M"),
        "executorch fp32": ExecuTorchConfig("fp32", max_seq_len=512), "executorch 8da8w": ExecuTorchConfig("8da8w", max_seq_len=512),
        "executorch 8da4w": ExecuTorchConfig("8da4w", max_seq_len=512),
        "onnx fp32": ONNXConfig("fp32"), "onnx int8": ONNXConfig("int8"), "onnx int4": ONNXConfig("int4"),
        "onnx int4 (quantized lm_head)": ONNXConfig("int4", quantize_lm_head=True),
    }
    formats = set(args.formats.split(","))
    configs = {n: c for n, c in configs.items() if n.split()[0] in formats}
    paths = {}
    for name, cfg in configs.items():
        log(f"exporting {name} ...")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            suffix = ".gguf" if name.startswith("gguf") else ""
            paths[name] = export(ckpt, cfg, work / (name.split(" (")[0].replace(" ", "-") + ("-qhead" if "lm_head" in name else "") + suffix)).path
    for name, path in paths.items():
        log(f"timing {name} ...")
        rows[name] = measure_in_subprocess(path, args.threads, prompt, 128, args.runs).to_dict()
        rows[name]["mib"] = path_size(path) / (1 << 20)

    if "executorch 8da4w" in paths:
        # ExecuTorch's own C++ runner and clock, same program
        text_prompt = "def main(argv):\n    " * 16
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(args.threads)
        _, st = text_runner_generate(paths["executorch 8da4w"], text_prompt, 128)
        _, st = text_runner_generate(paths["executorch 8da4w"], text_prompt, 128)
        rows["executorch 8da4w (TextLLMRunner clock)"] = {
            "prefill_tps": st["prompt_tokens"] / max(st["prefill_ms"], 1) * 1000,
            "decode_tps": max(st["generated_tokens"] - 1, 1) / max(st["decode_ms"], 1) * 1000,
        }
    comparison = _compare_llama_builds(args, paths, prompt, measure_in_subprocess, log) if args.compare_llama else {}

    base, q4km = rows["pytorch eager fp32"], rows.get("gguf Q4_K_M", rows["pytorch eager fp32"])
    print(f"\n{ckpt.spec.num_params / 1e6:.1f}M params, {args.threads} threads, median of {args.runs}\n")
    print(f"{'artifact':<42}{'MiB':>7}{'prefill t/s':>13}{'decode t/s':>12}{'x eager':>9}{'x Q4_K_M':>10}")
    for name, r in rows.items():
        r["decode_vs_pytorch"] = r["decode_tps"] / base["decode_tps"]
        r["decode_vs_q4_k_m"] = r["decode_tps"] / q4km["decode_tps"]
        print(f"{name:<42}{r.get('mib', 0):>7.1f}{r['prefill_tps']:>13.0f}{r['decode_tps']:>12.1f}"
              f"{r['decode_vs_pytorch']:>8.2f}x{r['decode_vs_q4_k_m']:>9.2f}x")
    if comparison:
        print(f"\nllama.cpp builds, decode t/s, median of {args.rounds} alternating rounds of median-of-{args.runs}")
        print(f"{'artifact':<16}{'this build':>12}{'other build':>13}{'this / other':>14}")
        for name, c in comparison.items():
            print(f"{name:<16}{c['this_build_decode_tps']:>12.1f}{c['other_build_decode_tps']:>13.1f}{c['ratio']:>13.3f}x")
    out = {"params": ckpt.spec.num_params, "threads": args.threads, "runs": args.runs, "results": rows,
           "llama_build_comparison": comparison}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [n for n in rows if "clock" not in n]
        fig, ax = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
        for a, key, title in ((ax[0], "decode_tps", "decode tokens/s"), (ax[1], "prefill_tps", "prefill tokens/s")):
            a.barh(names, [rows[n][key] for n in names], color=["#888" if n.startswith("pytorch") else "#3a7" for n in names])
            a.set_title(f"{title} ({args.threads} threads)")
            a.invert_yaxis()
            a.grid(axis="x", alpha=0.3)
        ax[1].set_yticklabels([])
        fig.suptitle(f"edgeslm: {ckpt.spec.num_params / 1e6:.1f}M-parameter Llama, median of {args.runs}")
        fig.tight_layout()
        fig.savefig(args.png)
    return 0


def _compare_llama_builds(args, paths, prompt, measure, log) -> dict:
    """Decode t/s of each GGUF with this environment's llama-cpp-python and with the one in args.compare_llama."""
    import os
    import statistics

    site = str(args.compare_llama.resolve())
    if not (args.compare_llama / "llama_cpp").is_dir():
        raise SystemExit(f"{site} holds no llama_cpp package: pip install --no-deps --target {site} WHEEL")
    before = os.environ.get("PYTHONPATH")
    out = {}
    for name in [n for n in paths if n.startswith("gguf")]:
        this, other = [], []
        for i in range(args.rounds):
            log(f"comparing llama.cpp builds on {name}: round {i + 1}/{args.rounds}")
            this.append(measure(paths[name], args.threads, prompt, 128, args.runs).decode_tps)
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site, before]))  # the runtime process imports it first
            try:
                other.append(measure(paths[name], args.threads, prompt, 128, args.runs).decode_tps)
            finally:
                os.environ.pop("PYTHONPATH") if before is None else os.environ.__setitem__("PYTHONPATH", before)
        a, b = statistics.median(this), statistics.median(other)
        out[name] = {"this_build_decode_tps": a, "other_build_decode_tps": b, "ratio": a / b,
                     "this_rounds": this, "other_rounds": other, "other_build": site}
    return out


if __name__ == "__main__":
    sys.exit(main())
