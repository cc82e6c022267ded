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

ExecuTorch: ExecuTorch's own runner ``llama_main`` (devices/executorch_tools.py)
runs the .pte with its tokenizer.json. Speed comes from its PyTorchObserver
stats line (median of the runs), and its greedy text is compared with the
PyTorch reference's greedy continuation of the same prompt. It prints no
logits, so KL and top-1 stay unmeasured in this mode: agent mode measures them.
"""

from __future__ import annotations

import posixpath
import shlex
import statistics
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
        src = Path(device.spec.tools_from)
        if (src / name).is_file():
            there = device.stage(src / name)
        elif (src / "bin" / name).is_file():  # a prefix with bin/ and lib/ (llama_main finds lib/ via its RUNPATH)
            there = posixpath.join(device.stage(src), "bin", name)
        else:
            raise DeviceError(f"{name} is not in tools_from ({device.spec.tools_from}).",
                              hint="build it: python scripts/build_llama_tools.py --arch ARCH (llama.cpp's tools) "
                                   "or python scripts/build_executorch_runner.py (llama_main)")
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


def executorch_tools(m, device, artifact, ref, target, opt, inputs, progress) -> None:
    """ExecuTorch's binary-mode method: ``llama_main`` on ``device``. Greedy agreement (tokens until the first
    divergence from the reference's greedy text) and speed (prefill/decode tokens/s, medians of ``opt.runs``;
    the runner's RSS in MiB). Fills ``m``; a device's failure becomes ``m.failure``."""
    from edgeslm.devices import executorch_tools as et
    from edgeslm.formats import folder_lineage
    from edgeslm.verify import _measured_where

    folder = artifact.path if artifact.path.is_dir() else artifact.path.parent
    tok = ref.loaded.tokenizer
    max_seq = int(folder_lineage(folder).get("options", {}).get("max_seq_len") or opt.prompt_tokens + opt.new_tokens)
    bos = inputs.bos
    prompt_text = tok.decode(inputs.greedy_prompt[len(bos):])
    ref_prompt = bos + ref.tokenize(prompt_text)  # what llama_main's tokenizer makes of the same text
    n_greedy = max(1, min(opt.greedy_tokens, max_seq - len(ref_prompt) - 1))
    n_prompt = max(1, min(opt.prompt_tokens, max_seq // 2))
    timed_text = tok.decode((inputs.ids * (n_prompt // max(len(inputs.ids), 1) + 1))[:n_prompt])
    n_new = max(2, min(opt.new_tokens, max_seq - n_prompt - len(bos) - 8))  # 8: room for re-tokenizing drift
    doing = "copying the model"
    try:
        progress(f"copying {folder.name} to {device.address}")
        there = device.stage(folder, needs_ram=True)
        doing = "finding llama_main"
        tool = _tool(device, "llama_main")
        m.runtime = {"name": "ExecuTorch (llama_main)", "mode": "binary", **_measured_where(target, device),
                     "unmeasured": "KL, top-1 and perplexity: llama_main prints no logits (agent mode measures them)"}
        device.shell(f"mkdir -p {shlex.quote(device.run_dir)}")
        common = ["--model_path", posixpath.join(there, "model.pte"),
                  "--tokenizer_path", posixpath.join(there, "tokenizer.json"), "--temperature", "0",
                  "--cpu_threads", str(target.threads), "--num_bos", str(len(bos)), "--num_eos", "0", "--ignore_eos",
                  "--etdump_path", posixpath.join(device.run_dir, "etdump.bin")]
        err = posixpath.join(device.run_dir, "llama_main.err")

        def run(prompt: str, new: int, warmup: bool) -> tuple[str, str]:
            args = common + ["--prompt", prompt, "--max_new_tokens", str(new)] + (["--warmup"] if warmup else [])
            return et.split_result(device.shell(f"cd {shlex.quote(device.run_dir)} && "
                                                + et.command_script(tool, args, err, device.spec.emulator),
                                                timeout_s=opt.timeout_s))

        doing = "timing"
        stats, rss = [], []
        for i in range(opt.runs):
            progress(f"llama_main: {n_prompt}-token prompt + {n_new} new tokens at {target.threads} threads "
                     f"(run {i + 1}/{opt.runs})")
            out, log = run(timed_text, n_new, warmup=i == 0)
            stats.append(et.parse_observer(out))
            rss.append(et.peak_rss_mib(log))
        pre = [s["prefill_tps"] for s in stats if s["prefill_tps"]]
        dec = [s["decode_tps"] for s in stats if s["decode_tps"]]
        if not pre or not dec:
            raise DeviceError("llama_main's runs were too short to time (0 ms spans).",
                              hint="raise --prompt-tokens and --new-tokens")
        m.speed = SpeedResult(prefill_tps=statistics.median(pre), decode_tps=statistics.median(dec),
                              prompt_tokens=stats[0]["prompt_tokens"], new_tokens=stats[0]["generated_tokens"] + 1,
                              runs=opt.runs, threads=target.threads,
                              peak_rss_mib=max((r for r in rss if r), default=None))
        m.runtime["observer"] = stats[-1]["raw"]
        doing = "generating greedy tokens"
        progress(f"greedy: {n_greedy} tokens from a {len(ref_prompt)}-token prompt, against the reference")
        want = ref.generate(ref_prompt, n_greedy).tokens
        got = et.generated_text(run(prompt_text, n_greedy, warmup=False)[0], prompt_text)
        m.greedy = greedy_text_match(tok, ref_prompt, want, got)
        m.runtime["greedy_text"] = {"reference": _continuation(tok, ref_prompt, want), "device": got}
    except DeviceError as e:
        from edgeslm.devices import scrub

        m.failure = scrub(f"{e.message.rstrip('.')} (while {doing})" + (f"; {e.hint}" if e.hint else ""), device.spec)
        progress(f"FAILED: {m.failure}")


def _printable(text: str) -> str:
    """``text`` as llama_main prints it: its safe_printf drops ASCII control characters other than whitespace."""
    return "".join(c for c in text if ord(c) >= 128 or c.isprintable() or c.isspace())


def _continuation(tok, prompt: list[int], gen: list[int]) -> str:
    """The text ``gen`` adds after ``prompt`` (decoded together: SentencePiece drops a leading space otherwise)."""
    return _printable(tok.decode(prompt + gen)[len(tok.decode(prompt)):])


def greedy_text_match(tok, prompt: list[int], want: list[int], got: str) -> int:
    """How many of the reference's greedy tokens ``want`` the device's text ``got`` reproduces before the first
    divergence: the largest k whose decoded continuation is a prefix of ``got``."""
    got = _printable(got)
    k = 0
    while k < len(want) and got.startswith(_continuation(tok, prompt, want[: k + 1])):
        k += 1
    return k


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
