"""Small helpers shared across stages."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass
class CapturedText:
    text: str = ""


@contextlib.contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Capture what C libraries write to file descriptor 2 (llama.cpp logs there directly)."""
    out = CapturedText()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.text = tmp.read().decode("utf-8", "replace")


# Loggers of libraries that print at import or load time, none of it actionable
# for an edgeslm user: torchao's "Failed to load ..._C_mxfp8 / _C_cutlass_90a"
# (CUDA-only kernels) and "no triton", torch's register_constant() deprecation.
NOISY_LOGGERS = ("torchao", "torch.utils._pytree")

# Held while building or exporting a model, for builds running side by side on device threads: transformers'
# from_pretrained swaps process-wide functions (PreTrainedModel.tie_weights, torch's init functions, the default
# dtype) and puts them back on exit, so two loads at once can leave them swapped for good: tied heads stay on
# the meta device and new models skip initialisation. torch.export and warnings.catch_warnings are global too.
HOST_MODEL_LOCK = threading.RLock()


def quiet_libraries() -> None:
    """Keep library noise off the terminal: edgeslm's own progress only. `--debug` skips this.

    Call before torch, torchao or transformers are imported: the progress-bar
    switch is read at import. Runtime processes inherit the environment part.
    """
    import logging

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars


def perplexity(mean_nll: float) -> float:
    """exp(mean NLL in nats/token). A diverged model's NLL (> 709 nats) gives inf rather than
    math.exp's OverflowError, so it is reported (and fails its gate) instead of crashing the stage."""
    return math.exp(mean_nll) if mean_nll < 709.0 or math.isnan(mean_nll) else math.inf


def path_size(path) -> int:
    """Bytes in a file, or in every file under a folder."""
    from pathlib import Path

    p = Path(path)
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux this is VmHWM, which starts afresh at exec. ru_maxrss does not: a
    child spawned by a large parent reports the parent's size as its peak.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024  # macOS: bytes, Linux: KiB


# --- child processes (runtimes, llama.cpp's quantizer) --------------------------------


def describe_exit(returncode: int) -> str:
    """What a child's exit status means, for a person: 'crashed (SIGSEGV)', 'was killed (SIGKILL) ...'."""
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        if sig == signal.SIGKILL:
            return f"was killed ({name}), most likely by the out-of-memory killer"
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            return f"was stopped ({name})"
        return f"crashed ({name})"
    if returncode == 128 + signal.SIGKILL:
        return "exited with status 137 (killed, most likely out of memory)"
    if returncode > 128 and returncode - 128 in signal.Signals._value2member_map_:
        return f"exited with status {returncode} ({signal.Signals(returncode - 128).name})"
    return f"exited unexpectedly with status {returncode}"


def cache_root() -> Path:
    """edgeslm's cache outside any repository: $EDGESLM_CACHE, else $XDG_CACHE_HOME/edgeslm, else ~/.cache/edgeslm."""
    base = os.environ.get("EDGESLM_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "edgeslm")
    return Path(base)


def publish_build(built: Path, dest: Path) -> None:
    """Move a finished build folder into the cache as ``dest``; when another build finished first, keep that one
    (builds of one key are interchangeable) and remove ``built``."""
    import shutil

    if dest.exists():
        shutil.rmtree(built)
    else:
        os.replace(built, dest)


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, even by SIGKILL, so no child process (a runtime, the quantizer) is left orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() == 1:  # the parent died before we got here
        os._exit(1)
