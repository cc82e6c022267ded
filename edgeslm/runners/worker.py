"""The runtime process: serves runners/process.py's protocol for one artifact.

    python -m edgeslm.runners.worker --scratch DIR      (started by RuntimeProcess, not by people)

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

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.runner = None
        self.n = 0

    def _save(self, array) -> dict:
        import numpy as np

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

    def tokenize(self, text_file: str) -> dict:
        import numpy as np

        text = (self.scratch / text_file).read_bytes().decode("utf-8")  # not read_text: it turns CRLF into LF
        return self._save(np.asarray(self.runner.tokenize(text), dtype=np.int64))

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


def serve(scratch: Path, requests, reply) -> None:
    """Answer each request line until "close" or end of input."""
    from edgeslm.errors import EdgeSLMError

    session = Session(scratch)
    for line in requests:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.pop("op")
        if op == "close":
            reply({"ok": True})
            return
        try:
            if op not in ("load", "tokenize", "logits", "generate", "time"):
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
    args = ap.parse_args(argv)
    die_with_parent()
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # C libraries that print to stdout (ExecuTorch's runner does) land in the log
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a runtime stops

    def reply(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    serve(args.scratch, sys.stdin, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
