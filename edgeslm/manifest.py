"""Lineage: what an artifact was made from, by what, and how.

Every build writes manifest.json beside its artifacts: the teacher/source
checkpoint and its hash, the recipe (format, quant, target), the evaluation
data and its hash, and each artifact's own hash, so a release can be
reproduced and defended.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgeslm import __version__


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, in sorted order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# the packages whose versions decide an artifact's bytes and its measured numbers
VERSIONED_PACKAGES = ("torch", "transformers", "tokenizers", "gguf", "llama-cpp-python", "executorch", "torchao",
                      "onnx", "onnxruntime", "onnxruntime-genai")


def environment() -> dict[str, str]:
    """Versions that decide an artifact's bytes and its measured numbers."""
    from importlib import metadata

    out = {"edgeslm": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    # distribution metadata, not imports: importing a runtime here would load it into this process
    for dist in VERSIONED_PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (outputs.atomic_path). Raises OutputPathError."""
    from edgeslm.outputs import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _finite(x: Any) -> Any:
    if isinstance(x, np.generic):  # numpy's float32/int64 are no Python numbers: json would write them as text
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259) of ``data``, indented. A non-finite float (a diverged model's inf
    perplexity, a NaN KL) is written as null: jq, JavaScript and Go refuse Python's Infinity/NaN.
    The report's gates and ``passed`` still say that the measurement failed."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json_text(data) + "\n")


def build_manifest(source: dict[str, Any], target: str, data: dict[str, Any], artifacts: list[dict[str, Any]]) -> dict:
    return {
        "schema": "edgeslm.manifest/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "target": target,
        "data": data,
        "artifacts": artifacts,
        "environment": environment(),
    }
