"""The agent: edgeslm's runtime process, packed to run on a board that has Python but no edgeslm.

    python3 edgeslm-agent-<sha>.pyz --inline --scratch DIR

A zipapp of edgeslm's own pure-Python source (a few hundred KiB) whose entry
point is runners/worker.py. On the device it needs only Python 3.10+, numpy
and the runtime's wheel (llama-cpp-python, onnxruntime-genai or executorch):
the worker imports neither torch nor transformers, which the tests check by
running it with those imports blocked. With ``--inline`` arrays travel inside
the protocol's JSON lines (base64 .npy) instead of a shared folder, since the
device's folders are not this machine's.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

import edgeslm
from edgeslm.outputs import atomic_path

_MAIN = "import sys\nfrom edgeslm.runners.worker import main\nsys.exit(main())\n"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same source gives the same bytes, so the sha256 only changes with it


def agent_zipapp() -> Path:
    """The agent for this edgeslm's source, built once per source hash into the temp folder; its path."""
    root = Path(edgeslm.__file__).resolve().parent
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root.parent).as_posix().encode() + b"\0" + p.read_bytes())
    out = Path(tempfile.gettempdir()) / f"edgeslm-agent-{h.hexdigest()[:16]}.pyz"
    if out.is_file():
        return out
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as z:
        z.writestr(zipfile.ZipInfo("__main__.py", _FIXED_TIME), _MAIN)
        for p in files:
            z.writestr(zipfile.ZipInfo(p.relative_to(root.parent).as_posix(), _FIXED_TIME), p.read_bytes())
    return out
