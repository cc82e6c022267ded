"""Small helpers shared across stages."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
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
