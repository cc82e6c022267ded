"""The runtime process: serves runners/process.py's protocol for one artifact.

    python -m edgeslm.runners.worker --scratch DIR      (started by RuntimeProcess, not by people)
    python3 edgeslm-agent.pyz --inline --scratch DIR    (the same, on a device: devices/agent.py)

Only the runtime and numpy live here: the PyTorch reference stays in the
parent. File descriptor 1 carries the protocol alone; everything the runtime
prints, from C or Python, goes to stderr, which the parent points at a log file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

from edgeslm.util import die_with_parent


class Session:
    """One loaded runner and the ops on it."""

    def __init__(self, scratch: Path, inline: bool = False):
        self.scratch = scratch
        self.inline = inline  # arrays inside the JSON lines (a device), not files in a shared folder
        self.runner = None
        self.n = 0

    def _save(self, array) -> dict:
        import numpy as np

        if self.inline:
            return {"npy": encode_array(array)}
        self.n += 1
        name = f"out-{self.n}.npy"
        tmp = self.scratch / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, self.scratch / name)  # the parent never sees half an array
        return {"array": name}

    def load(self, path: str, format: str, options: dict) -> dict:
        from edgeslm.runners.base import RunnerOptions, load_runner

        self.runner = load_runner(Path(path), RunnerOptions(**options), fmt=format)
        describe = getattr(self.runner, "describe", None)
        return {"runtime": self.runner.name, "versions": _runtime_versions(), "info": describe() if describe else {}}

    def _load(self, ref: dict):
        import numpy as np

        if "npy" in ref:
            return decode_array(ref["npy"])
        return np.load(self.scratch / ref["file"])

    def tokenize(self, text_file: str = "", text: str | None = None) -> dict:
        import numpy as np

        if text is None:
            text = (self.scratch / text_file).read_bytes().decode("utf-8")  # not read_text: it turns CRLF into LF
        return self._save(np.asarray(self.runner.tokenize(text), dtype=np.int64))

    def compare(self, ids: list[int], ref: dict) -> dict:
        """The runtime's logits for ``ids`` judged against the reference's, here: only the stats go back."""
        import numpy as np

        from edgeslm.runners.judge import window_stats

        art = np.ascontiguousarray(self.runner.logits(ids), dtype=np.float32)
        return {"stats": window_stats(self._load(ref), art, np.asarray(ids[1:])).to_dict()}

    def logits(self, ids: list[int]) -> dict:
        import numpy as np

        return self._save(np.ascontiguousarray(self.runner.logits(ids), dtype=np.float32))

    def generate(self, prompt: list[int], max_new_tokens: int) -> dict:
        return asdict(self.runner.generate(prompt, max_new_tokens))

    def time(self, prompt: list[int], new_tokens: int, runs: int) -> dict:
        from dataclasses import replace

        from edgeslm.runners.base import measure_speed
        from edgeslm.util import peak_rss_mib

        res = measure_speed(self.runner, prompt, new_tokens, runs)
        return replace(res, peak_rss_mib=round(peak_rss_mib(), 1)).to_dict()


def _runtime_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("llama-cpp-python", "executorch", "onnxruntime", "onnxruntime-genai"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def encode_array(array) -> str:
    """An array as base64 .npy text, for the JSON lines of an inline (device) session."""
    import base64
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_array(text: str):
    import base64
    import io

    import numpy as np

    return np.load(io.BytesIO(base64.b64decode(text)))


def serve(scratch: Path, requests, reply, inline: bool = False) -> None:
    """Answer each request line until "close" or end of input."""
    from edgeslm.errors import EdgeSLMError

    session = Session(scratch, inline)
    for line in requests:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.pop("op")
        if op == "close":
            reply({"ok": True})
            return
        try:
            if op not in ("load", "tokenize", "logits", "compare", "generate", "time"):
                raise ValueError(f"unknown op {op!r}")
            if op != "load" and session.runner is None:
                raise ValueError(f"{op!r} before 'load'")
            resp = {"ok": True, **getattr(session, op)(**req)}
        except EdgeSLMError as e:
            resp = {"ok": False, "error": {"kind": type(e).__name__, "message": e.message, "hint": e.hint}}
        except Exception as e:  # noqa: BLE001 - reported to the parent, with the traceback in the log
            traceback.print_exc()
            resp = {"ok": False, "error": {"kind": "unexpected", "message": f"{type(e).__name__}: {e}"}}
        reply(resp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeslm.runners.worker")
    ap.add_argument("--scratch", type=Path, required=True)
    ap.add_argument("--inline", action="store_true", help="arrays inside the protocol's lines (on a device)")
    args = ap.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    die_with_parent()
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # C libraries that print to stdout (ExecuTorch's runner does) land in the log
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a runtime stops

    def reply(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    serve(args.scratch, sys.stdin, reply, args.inline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
