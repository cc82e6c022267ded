"""Binary mode: verify on a device with the runtime's own command-line tools, for phones and boards without Python.

Each format names its method in its registration (Format.device_tools). GGUF: edgeslm writes llama.cpp's
KL base file from the PyTorch reference (devices/llama_tools.py) with the
reference's own token ids, copies it and the model to the device, runs
``llama-perplexity --kl-divergence`` there and parses its summary, and takes
speed from ``llama-bench -o json``. Only the second half of each chunk is
scored (the tool's rule), so the KL is over those positions.

Tokenizer parity and greedy agreement need the runtime's tokenizer and
generation loop, which these tools do not expose: binary-mode reports leave
them unmeasured ("-"), and NMSE too, since only log-probabilities travel.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from edgeslm.errors import DataError, DeviceError, UsageError
from edgeslm.runners.base import SpeedResult
from edgeslm.verify.accuracy import AccuracyStats


def _tool(device, name: str) -> str:
    """The device's path of a tool: named in [device.tools], or copied from [device] tools_from. Raises DeviceError."""
    path = device.spec.tool(name)
    if path:
        return path
    if device.spec.tools_from:
        local = Path(device.spec.tools_from) / name
        if not local.is_file():
            raise DeviceError(f"{name} is not in tools_from ({device.spec.tools_from}).",
                              hint="build it: python scripts/build_llama_tools.py --arch ARCH")
        there = device.stage(local)
        device.shell(f"chmod +x {shlex.quote(there)}")
        return there
    raise DeviceError(f"binary mode on {device.address} needs {name}.",
                      hint=f"name its path on the device in [device.tools] ({name} = \"/path\"), or set tools_from "
                           "to a folder of tools built for the device")


def _run_tool(device, tool: str, args: list[str], timeout_s: float) -> str:
    prefix = device.spec.emulator + " " if device.spec.emulator else ""
    return device.shell(prefix + " ".join(shlex.quote(a) for a in [tool, *args]) + " 2>&1", timeout_s=timeout_s)


def llama_cpp_tools(m, device, artifact, ref, target, opt, inputs, progress) -> None:
    """GGUF's binary-mode method: KL from ``llama-perplexity --kl-divergence`` against edgeslm's base file, speed
    from ``llama-bench -o json``, both run on ``device``. Fills ``m``; a device's failure becomes ``m.failure``.
    Raises DataError when the text gives no whole chunk of ``opt.ctx`` tokens."""
    from edgeslm.devices.llama_tools import parse_bench_json, parse_kl_output, write_kl_base
    from edgeslm.verify import _measured_where

    n_ctx, bos = opt.ctx, inputs.bos
    step = n_ctx - len(bos)
    chunks = [c for c in (bos + inputs.ids[i : i + step] for i in range(0, len(inputs.ids), step)) if len(c) == n_ctx]
    if not chunks:
        raise DataError(f"binary mode needs whole chunks of --ctx {n_ctx} tokens; the text gives {len(inputs.ids)}.",
                        hint="give more text or a smaller --ctx")
    doing = "copying the model"
    try:
        with tempfile.TemporaryDirectory(prefix="edgeslm-kl-") as tmp:
            progress(f"reference log-probs for {len(chunks)} chunks of {n_ctx} (llama.cpp KL base file)")
            base = Path(tmp) / "kl-base.bin"
            scored = write_kl_base(base, chunks, [ref.logits(c) for c in chunks])
            progress(f"copying {artifact.path.name} and the KL base to {device.address}")
            model = device.stage(artifact.path, needs_ram=True)
            base_there = device.stage(base)
            doing = "finding the tools"
            perplexity, bench = _tool(device, "llama-perplexity"), _tool(device, "llama-bench")
            m.runtime = {"name": "llama.cpp (its own tools)", "mode": "binary", **_measured_where(target, device)}
            doing = "timing"
            progress(f"llama-bench: pp{opt.prompt_tokens} and tg{opt.new_tokens}, {opt.runs} runs at {target.threads} threads")
            b = parse_bench_json(_run_tool(device, bench, [
                "-m", model, "-p", str(opt.prompt_tokens), "-n", str(opt.new_tokens), "-t", str(target.threads),
                "-r", str(opt.runs), "-o", "json"], opt.timeout_s))
            m.speed = SpeedResult(prefill_tps=b["prefill"][0], decode_tps=b["decode"][0], prompt_tokens=opt.prompt_tokens,
                                  new_tokens=opt.new_tokens, runs=opt.runs, threads=target.threads)
            m.runtime["bench"] = {"prefill_stddev_tps": b["prefill"][1], "decode_stddev_tps": b["decode"][1],
                                  "build_commit": b.get("build"), "cpu_info": b.get("cpu")}
            doing = "measuring KL"
            progress(f"llama-perplexity --kl-divergence over {scored} scored positions")
            kl = parse_kl_output(_run_tool(device, perplexity, [
                "-m", model, "--kl-divergence-base", base_there, "--kl-divergence", "-c", str(n_ctx), "-b", str(n_ctx),
                "-t", str(target.threads)], opt.timeout_s))
            m.accuracy = AccuracyStats(positions=scored, mean_kl=kl["mean_kld"], p99_kl=kl["p99_kld"],
                                       top1_agreement=kl["same_top_p"], ppl_reference=kl["ppl_base"],
                                       ppl_artifact=kl["ppl_q"], nmse=None, max_abs_diff=None)
            m.runtime["tool_kl"] = kl
            m.runtime["scored_positions"] = f"second half of each of {len(chunks)} chunks of {n_ctx}"
    except DeviceError as e:
        from edgeslm.devices import scrub

        m.failure = scrub(f"{e.message.rstrip('.')} (while {doing})" + (f"; {e.hint}" if e.hint else ""), device.spec)
        progress(f"FAILED: {m.failure}")


def measure_with_tools(m, device, artifact, ref, target, opt, inputs, progress) -> None:
    """Fill ``m`` (verify's _Measured) from the format's own tools on ``device``. Raises UsageError for a format
    with no tools registered, DataError for too little text; a device's failure becomes ``m.failure``."""
    from edgeslm.formats import all_formats, format_named

    tools = format_named(artifact.format).device_tools
    if tools is None:
        have = ", ".join(f.name for f in all_formats().values() if f.device_tools) or "none"
        raise UsageError(f"binary mode has no tools for {artifact.format} artifacts (formats with tools: {have}).",
                         hint="use agent mode on a device with Python ([device] mode = \"agent\")")
    tools()(m, device, artifact, ref, target, opt, inputs, progress)
