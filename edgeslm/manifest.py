"""Lineage: what an artifact was made from, by what, and how.

Every build writes manifest.json beside its artifacts: the teacher/source
checkpoint and its hash, the recipe (format, quant, target), the evaluation
data and its hash, and each artifact's own hash, so a release can be
reproduced and defended.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeslm import __version__


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def environment() -> dict[str, str]:
    """Versions that decide an artifact's bytes and its measured numbers."""
    out = {"edgeslm": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("torch", "transformers", "gguf", "llama_cpp"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional runtime is recorded as absent
            out[mod] = "absent"
    return out


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    from edgeslm.export.base import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


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
