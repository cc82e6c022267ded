"""ExecuTorch's own runner on a device, ``llama_main``: how to call it and what it prints.

llama_main (examples/models/llama/main.cpp) loads model.pte and the tokenizer,
encodes ``--prompt`` with its own tokenizer, and prints to stdout the prompt
(echoed), then each generated piece as it comes, a newline, and one stats line:

    PyTorchObserver {"prompt_tokens":10,"generated_tokens":23,"model_load_start_ms":..,
     "inference_start_ms":..,"prompt_eval_end_ms":..,"first_token_ms":..,"inference_end_ms":..,
     "SCALING_FACTOR_UNITS_PER_SECOND":1000, ...}

Its logs go to stderr (``I 00:00:00.123 executorch:file.cpp:NN] ...``), among
them "RSS after finishing text generation: X MiB". Prefill and decode tokens/s
follow the runner's own report (extension/llm/runner/stats.h): prompt tokens
over inference_start..prompt_eval_end, and generated tokens over
prompt_eval_end..inference_end. Its "generated_tokens" counts the decode
steps: the first new token comes from the prefill and is not in it.
"""

from __future__ import annotations

import json
import re

from edgeslm.errors import DeviceError

OBSERVER = "PyTorchObserver "
_RSS = re.compile(r"RSS after finishing text generation:\s*([0-9.]+)\s*MiB")
# "E 00:00:00.012 executorch:file.cpp:NN] msg" (ExecuTorch) or "E tokenizers:file.h:NN] msg" (tokenizers)
_ERROR_LINE = re.compile(r"^E (?:[\d:.]+ )?\S+\] (.*)$", re.M)
RC_MARK = "__edgeslm_rc="
ERR_MARK = "__edgeslm_stderr__"


def parse_observer(stdout: str) -> dict:
    """The stats line -> {"prompt_tokens", "generated_tokens", "prefill_tps", "decode_tps", "load_ms", "raw"}.

    tokens/s are computed from the runner's millisecond stamps as its own report does. Raises DeviceError when
    no stats line is present (the run failed before the end) or it is not JSON."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(OBSERVER)), None)
    if line is None:
        raise DeviceError("llama_main printed no PyTorchObserver stats line.")
    try:
        raw = json.loads(line[len(OBSERVER):])
    except json.JSONDecodeError as e:
        raise DeviceError(f"llama_main's stats line is not JSON ({e}).") from None
    per_s = float(raw.get("SCALING_FACTOR_UNITS_PER_SECOND", 1000))
    prefill_s = (raw["prompt_eval_end_ms"] - raw["inference_start_ms"]) / per_s
    decode_s = (raw["inference_end_ms"] - raw["prompt_eval_end_ms"]) / per_s
    n_prompt, n_gen = int(raw["prompt_tokens"]), int(raw["generated_tokens"])
    return {
        "prompt_tokens": n_prompt,
        "generated_tokens": n_gen,
        # a 0 ms span (a tiny model on a fast machine) has no measurable rate: None, never inf
        "prefill_tps": n_prompt / prefill_s if prefill_s > 0 else None,
        "decode_tps": n_gen / decode_s if decode_s > 0 and n_gen > 0 else None,
        "load_ms": raw["model_load_end_ms"] - raw["model_load_start_ms"],
        "raw": raw,
    }


def generated_text(stdout: str, prompt: str) -> str:
    """What llama_main generated: stdout less the echoed prompt, the closing newline and the stats line.

    Raises DeviceError when stdout does not start with the prompt (the runner did not echo it: an
    incompatible build)."""
    body = stdout
    cut = body.rfind("\n" + OBSERVER)
    if cut >= 0:
        body = body[:cut]
    elif body.startswith(OBSERVER):
        body = ""
    if not body.startswith(prompt):
        raise DeviceError("llama_main's output does not start with the prompt it was given.",
                          hint="binary mode expects examples/models/llama/main.cpp, which echoes the prompt")
    return body[len(prompt):]


def peak_rss_mib(stderr: str) -> float | None:
    """The runner's own RSS after generation (MiB), or None when its build does not log it."""
    m = _RSS.search(stderr)
    return float(m.group(1)) or None if m else None


def command_script(tool: str, args: list[str], err_file: str, emulator: str = "") -> str:
    """A shell line that runs llama_main with stderr to ``err_file``, then prints its exit status and the
    tail of that log after stdout, so one round trip returns the text, the stats and the reason of a failure."""
    import shlex

    cmd = (emulator + " " if emulator else "") + " ".join(shlex.quote(a) for a in [tool, *args])
    e = shlex.quote(err_file)
    return f"{cmd} 2>{e}; rc=$?; echo; echo {RC_MARK}$rc; echo {ERR_MARK}; tail -c 6000 {e}"


def split_result(text: str) -> tuple[str, str]:
    """command_script's output -> (llama_main's stdout, its stderr tail). Raises DeviceError with the runner's
    last error line when it exited non-zero."""
    head, _, err = text.partition("\n" + ERR_MARK + "\n")
    out, _, rc = head.rpartition(RC_MARK)
    out = out[:-1] if out.endswith("\n") else out  # the newline the script's own echo added
    try:
        status = int(rc.strip())
    except ValueError:
        raise DeviceError("llama_main's run was cut off before it finished.") from None
    if status != 0:
        errors = [e.strip() for e in _ERROR_LINE.findall(err)]
        tail = (err.strip().splitlines() or ["no message"])[-1].strip()
        why = f"{errors[-1]} (last output: {tail})" if errors and tail not in errors[-1] else errors[-1] if errors else tail
        raise DeviceError(f"llama_main failed with status {status}: {why[:400]}",
                          hint="check that the .pte, its tokenizer and the runner's ExecuTorch version match")
    return out, err
