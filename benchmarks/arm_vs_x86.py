"""KL and top-1 of the demo teacher's GGUFs from ARM kernels (aarch64, under qemu-user) beside x86's.

    python benchmarks/arm_vs_x86.py [--json out.json]

For Q8_0, Q4_0 and Q4_K_M: edgeslm verify in binary mode, llama-perplexity
--kl-divergence against edgeslm's base file from the PyTorch reference, once with
the tools built for this x86 CPU and once with the aarch64 build (dotprod + i8mm,
scripts/build_llama_tools.py --arch aarch64) run by qemu-aarch64 -cpu max. Both
score the same positions (the second half of each 256-token chunk of the stdlib
test split). Beside them, edgeslm's own KL over every position through
llama-cpp-python. ARM speeds are emulated, so only accuracy is compared.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUANTS = ("Q8_0", "Q4_0", "Q4_K_M")


def tools(arch: str) -> Path:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_llama_tools.py"), "--arch", arch, "--print-dir"],
                         check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def own_kl_scored(gguf: Path, ref, text: str, opts) -> dict:
    """edgeslm's KL and top-1 from llama-cpp-python's logits on the positions llama-perplexity scores."""
    import numpy as np

    from edgeslm.devices.llama_tools import scored_positions
    from edgeslm.runners.base import RunnerOptions, load_runner
    from edgeslm.runners.torch import TorchRunner
    from edgeslm.verify import _bos
    from edgeslm.verify.accuracy import AccuracyAccumulator

    torch_ref = TorchRunner(ref)
    ids = torch_ref.tokenize(text)[: opts.max_tokens]
    bos = _bos(ref)
    step = opts.ctx - len(bos)
    chunks = [c for c in (bos + ids[i : i + step] for i in range(0, len(ids), step)) if len(c) == opts.ctx]
    rt = load_runner(gguf, RunnerOptions(threads=2, n_ctx=opts.ctx + 8))
    pos, acc = scored_positions(opts.ctx), AccuracyAccumulator()
    for c in chunks:
        r, a = torch_ref.logits(c), rt.logits(c)
        acc.add(r[pos.start : pos.stop], a[pos.start : pos.stop], np.asarray(c[pos.start + 1 : pos.stop + 1]))
    rt.close()
    s = acc.result()
    return {"mean_kl": s.mean_kl, "top1": s.top1_agreement, "positions": s.positions}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--max-tokens", type=int, default=2048)
    args = ap.parse_args()

    from edgeslm.data import default_eval_text
    from edgeslm.devices import device_from_dict
    from edgeslm.export import GGUFConfig, export
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.targets import load_target
    from edgeslm.verify import VerifyOptions, verify

    work = Path(tempfile.mkdtemp(prefix="edgeslm-arm-x86-"))
    ckpt = open_checkpoint(ROOT / "examples" / "demo-teacher")
    ref = load_model(ckpt)
    text = default_eval_text()
    opts = VerifyOptions(max_tokens=args.max_tokens, runs=1, prompt_tokens=32, new_tokens=16)
    host = load_target("host")
    x86_dev = device_from_dict({"kind": "local", "mode": "binary", "tools_from": str(tools(platform.machine()))}, "x86")
    arm_dev = device_from_dict({"kind": "local", "mode": "binary", "tools_from": str(tools("aarch64")),
                                "emulator": "qemu-aarch64 -cpu max"}, "arm")
    from dataclasses import replace

    rows = []
    for q in QUANTS:
        art = export(ckpt, GGUFConfig(q), work / f"demo-{q}.gguf")
        row = {"quant": q}
        for name, dev in (("x86", x86_dev), ("aarch64", arm_dev), ("edgeslm", None)):
            t0 = time.perf_counter()
            r = verify(art, ref, replace(host, device=dev), text, options=opts)
            if r.failure:
                raise SystemExit(f"{q} on {name}: {r.failure}")
            row[name] = {"mean_kl": r.accuracy.mean_kl, "p99_kl": r.accuracy.p99_kl, "top1": r.accuracy.top1_agreement,
                         "positions": r.accuracy.positions, "decode_tps": r.speed.decode_tps,
                         "wall_s": round(time.perf_counter() - t0, 1)}
            print(q, name, json.dumps(row[name]), file=sys.stderr)
        row["edgeslm_same_positions"] = own_kl_scored(art.path, ref, text.text, opts)
        row["arm_over_x86_kl"] = row["aarch64"]["mean_kl"] / row["x86"]["mean_kl"]
        row["tool_over_edgeslm_kl"] = row["x86"]["mean_kl"] / row["edgeslm_same_positions"]["mean_kl"]
        rows.append(row)

    print("| quant | x86 KL | aarch64 KL | aarch64/x86 | x86 top-1 | aarch64 top-1 | edgeslm KL, same positions "
          "(tool/edgeslm) | edgeslm KL, all positions |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['quant']} | {r['x86']['mean_kl']:.5f} | {r['aarch64']['mean_kl']:.5f} | {r['arm_over_x86_kl']:.3f} | "
              f"{r['x86']['top1']:.1%} | {r['aarch64']['top1']:.1%} | {r['edgeslm_same_positions']['mean_kl']:.5f} "
              f"({r['tool_over_edgeslm_kl']:.3f}) | {r['edgeslm']['mean_kl']:.5f} |")
    out = {"model": "examples/demo-teacher", "eval": text.source, "max_tokens": args.max_tokens, "ctx": opts.ctx,
           "scored": "second half of each chunk (llama-perplexity's rule); edgeslm column: every position",
           "aarch64": "armv8.2-a+dotprod+i8mm, static, qemu-aarch64 -cpu max (speeds emulated, not compared)",
           "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
