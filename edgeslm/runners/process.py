"""A runtime in a child process of its own, behind a small request/response protocol.

A runtime that crashes (SIGSEGV, SIGILL, abort), hangs, or is killed for memory
takes down only its child: the caller gets a RuntimeFailure naming what
happened and where the child's log is, and carries on with the next artifact.

The protocol (runners/worker.py serves it; a process on a phone or a board can
serve the same one): one JSON object per line on the child's stdin, one JSON
answer per line on its stdout.

    {"op": "load", "path": P, "format": F, "options": RunnerOptions}  -> {"runtime", "versions", "info"}
    {"op": "tokenize", "text_file": NAME}                             -> {"array": NAME}   (T,) int64
    {"op": "logits", "ids": [..]}                                     -> {"array": NAME}   (T, V) float32
    {"op": "compare", "ids": [..], "ref": ARRAY}                      -> {"stats": WindowStats fields}
    {"op": "generate", "prompt": [..], "max_new_tokens": N}           -> Generation fields
    {"op": "time", "prompt": [..], "new_tokens": N, "runs": R}        -> SpeedResult fields (peak_rss_mib: the child's)
    {"op": "close"}                                                   -> {} and the child exits

Every answer has "ok"; a refusal is {"ok": false, "error": {"kind", "message", "hint"}}.
On this machine arrays never go through the pipe: they are .npy files in a
scratch folder the parent owns (on /dev/shm where there is one, so they stay in
memory), written by the child and deleted by the parent once read
({"array": NAME}, {"file": NAME}). On a device (``device=``) the same protocol
runs over the device's stream (ssh) with arrays inline ({"npy": base64}), and
verify asks for "compare" instead of "logits": the device judges each window
against the reference's logits, so full logits never come back over the link.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeslm.errors import ArtifactError, EdgeSLMError, RuntimeFailure, UsageError
from edgeslm.runners.base import Generation, RunnerOptions, SpeedResult
from edgeslm.runners.judge import WindowStats, window_stats
from edgeslm.util import describe_exit  # noqa: F401 - re-exported: how a runtime process ended

DEFAULT_TIMEOUT_S = 900.0  # per request: loading a large model, or timing 4 x 256 tokens on a slow board
_CLOSE_TIMEOUT_S = 10.0
_LIVE: "weakref.WeakSet[RuntimeProcess]" = weakref.WeakSet()

# error kinds a child may report -> the error raised here (a refusal, not a crash)
_REFUSALS: dict[str, type[EdgeSLMError]] = {"ArtifactError": ArtifactError, "UsageError": UsageError}


def _scratch_root() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


class RuntimeProcess:
    """One artifact loaded in its runtime, in a child process. A Runner, plus ``time``.

    Raises RuntimeFailure when the child crashes, hangs past ``timeout_s`` per
    request, or is killed; ArtifactError/UsageError when the runtime refuses
    (a corrupt file). Use as a context manager, or call ``close()``: the child
    is killed if it does not exit, and also when this process exits.

    With ``wait=False`` the constructor only starts the child and sends "load":
    the caller works while Python starts, the runtime imports and the artifact
    loads, and the load's answer (or refusal) comes with the first request, or
    ``ready()``. Requests are answered in order, so ``logits_later`` can keep one
    request in flight while the caller computes.
    """

    def __init__(self, path: Path, fmt: str, options: RunnerOptions, *, log: Path | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, wait: bool = True, device=None):
        self.path, self.format, self.options, self.timeout_s = Path(path), fmt, options, timeout_s
        self.threads = options.threads
        self.name = options.runner or fmt  # replaced by the runtime's own name once loaded
        self.failed = False
        self._keep_log = log is not None
        if log is None:
            fd, tmp = tempfile.mkstemp(prefix=f"edgeslm-{fmt}-", suffix=".log")
            os.close(fd)
            log = Path(tmp)
        self.log = Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.inline = device is not None  # arrays in the JSON lines: the device's folders are not ours
        self._buf = b""
        self._n = 0
        self._in_flight: list[str] = []  # what each request sent and not yet answered was doing, oldest first
        self.versions: dict[str, str] = {}
        self.info: dict[str, Any] = {}
        if device is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="edgeslm-rt-", dir=_scratch_root()))
            load_path = str(self.path.resolve())
            with open(self.log, "ab") as logf:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "edgeslm.runners.worker", "--scratch", str(self.scratch)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                    # its own session: a Ctrl-C at the terminal reaches edgeslm, which then ends the child
                    start_new_session=True,
                )
        else:
            self.scratch = None
            self.proc, load_path = _start_agent(device, self.path, self.log)
        _LIVE.add(self)
        self._request({"op": "load", "path": load_path, "format": fmt, "options": options.to_dict()},
                      "loading the artifact")
        self._loaded = False
        if wait:
            try:
                self.ready()
            except BaseException:
                self.close(kill=True)
                raise

    def ready(self) -> "RuntimeProcess":
        """Wait for the artifact to load (name, versions and info are then the runtime's). Raises as requests do."""
        if not self._loaded:
            self._loaded = True
            info = self._answer()
            self.name = info["runtime"]
            self.versions, self.info = info.get("versions", {}), info.get("info", {})
        return self

    # --- the Runner protocol ---------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        if self.inline:
            return self._array(self._call({"op": "tokenize", "text": text}, "tokenizing")).tolist()
        name = f"text-{self._n}.txt"
        (self.scratch / name).write_bytes(text.encode("utf-8"))  # bytes: text mode would turn CRLF into LF
        try:
            return self._array(self._call({"op": "tokenize", "text_file": name}, "tokenizing")).tolist()
        finally:
            (self.scratch / name).unlink(missing_ok=True)

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """(T, V) float32 logits at every position of ``ids`` from an empty cache."""
        return self.logits_later(ids)()

    def logits_later(self, ids: Sequence[int]) -> Callable[[], np.ndarray]:
        """Send a logits request now; the returned call waits for its (T, V) float32 answer. The child computes
        while the caller does other work (verify runs the reference meanwhile). Take it before the next request."""
        self.ready()
        self._request({"op": "logits", "ids": [int(t) for t in ids]}, "computing logits")
        return lambda: self._array(self._answer())

    def stats_later(self, ids: Sequence[int], ref_logits: np.ndarray) -> Callable[[], WindowStats]:
        """Judge the runtime's logits for ``ids`` against the reference's (T, V) ``ref_logits``; the returned
        call waits for the WindowStats. On a device the judging happens there and only the stats come back;
        here the logits come back and are judged on taking. Take it before the next request."""
        if not self.inline:
            take = self.logits_later(ids)
            return lambda: window_stats(ref_logits, take(), np.asarray(ids[1:]))
        self.ready()
        from edgeslm.runners.worker import encode_array

        self._request({"op": "compare", "ids": [int(t) for t in ids],
                       "ref": {"npy": encode_array(np.ascontiguousarray(ref_logits, dtype=np.float32))}},
                      "computing logits")
        return lambda: WindowStats.from_dict(self._answer()["stats"])

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        r = self._call({"op": "generate", "prompt": [int(t) for t in prompt], "max_new_tokens": int(max_new_tokens)},
                       "generating")
        return Generation(r["tokens"], r["prefill_s"], r["decode_s"], r["prompt_tokens"])

    def time(self, prompt: Sequence[int], new_tokens: int = 128, runs: int = 3) -> SpeedResult:
        """runners.base.measure_speed in the child; peak_rss_mib is the child's peak (MiB) after loading and timing."""
        r = self._call({"op": "time", "prompt": [int(t) for t in prompt], "new_tokens": int(new_tokens), "runs": int(runs)},
                       "timing")
        return SpeedResult(**r)

    def close(self, *, kill: bool = False) -> None:
        """Ask the child to exit (or, with ``kill``, end it at once); kill it if it does not.

        Removes the scratch folder, and the log unless kept.
        """
        if self.proc.poll() is None:
            if kill:
                self._kill()
            else:
                try:
                    self._send({"op": "close"})
                    self.proc.wait(timeout=_CLOSE_TIMEOUT_S)
                except (OSError, subprocess.TimeoutExpired):
                    self._kill()
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:  # a request still buffered for a child (or a link) that is gone
                    pass
        _LIVE.discard(self)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if not self._keep_log and not self.failed:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> "RuntimeProcess":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        # leaving on an error or an interrupt: the child may be busy mid-request, so do not wait for it
        self.close(kill=exc_type is not None)

    # --- the wire ----------------------------------------------------------------

    def _send(self, req: dict) -> None:
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()

    def _call(self, req: dict, doing: str) -> dict:
        self.ready()
        self._request(req, doing)
        return self._answer()

    def _request(self, req: dict, doing: str) -> None:
        if self._in_flight and req["op"] != "load":  # answers come in order: one request at a time, besides load
            raise RuntimeError(f"{req['op']!r} sent while {self._in_flight[0]!r} awaits its answer")
        self._n += 1
        try:
            self._send(req)
        except (BrokenPipeError, OSError):
            self._fail(self._exit_reason(), doing)
        self._in_flight.append(doing)

    def _answer(self) -> dict:
        """The oldest unanswered request's answer. Raises RuntimeFailure, or the runtime's refusal."""
        doing = self._in_flight[0]
        line = self._read_line(time.monotonic() + self.timeout_s, doing)
        self._in_flight.pop(0)
        resp = json.loads(line)
        if resp.pop("ok", False):
            return resp
        err = resp.get("error", {})
        cls = _REFUSALS.get(err.get("kind", ""))
        if cls is not None:
            raise cls(err.get("message", "the runtime refused"), hint=err.get("hint"))
        self._fail(f"failed: {err.get('message', 'unknown error')}", doing)

    def _read_line(self, deadline: float, doing: str) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                self._fail(f"hung: no answer within {self.timeout_s:g} s", doing)
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the child is gone
                self._fail(self._exit_reason(), doing)
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _exit_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=_CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill()
            return "closed its output and stopped answering"
        return describe_exit(code)

    def _array(self, resp: dict) -> np.ndarray:
        if "npy" in resp:
            from edgeslm.runners.worker import decode_array

            return decode_array(resp["npy"])
        f = self.scratch / resp["array"]
        try:
            return np.load(f)
        finally:
            f.unlink(missing_ok=True)

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=_CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass

    def _fail(self, reason: str, doing: str):
        self.failed = True
        raise RuntimeFailure(self.name, reason, doing=doing, log=self.log)


@atexit.register
def _end_children() -> None:
    """No runtime process outlives edgeslm, whatever ends it (short of SIGKILL, which the child's
    parent-death signal covers on Linux)."""
    for rt in list(_LIVE):
        rt._kill()
        if rt.scratch is not None:
            shutil.rmtree(rt.scratch, ignore_errors=True)


def _start_agent(device, artifact: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Stage the artifact and the agent on ``device`` and start the agent there; (its stream, the artifact's path there).

    Raises DeviceError (unreachable, no room, host key not trusted)."""
    import posixpath
    import shlex

    from edgeslm.devices.agent import agent_zipapp

    remote = device.stage(artifact, needs_ram=True)
    agent = device.stage(agent_zipapp())
    scratch = posixpath.join(device.run_dir, f"rt-{os.getpid()}-{id(log) & 0xFFFF:x}")
    q = shlex.quote
    # exec: the agent is the session's process, so it ends with the connection
    script = f"mkdir -p {q(scratch)} && exec {q(device.spec.python)} {q(agent)} --inline --scratch {q(scratch)}"
    return device.stream(script, log), remote
