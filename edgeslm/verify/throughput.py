"""Speed: measured tokens/s in an isolated process, and the roofline estimate beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from edgeslm.runners.base import SpeedResult


def measure_in_subprocess(
    artifact: Path, threads: int, prompt: Sequence[int], new_tokens: int = 128, runs: int = 3, timeout_s: float = 900
) -> SpeedResult:
    """Time ``artifact`` in a runtime process of its own; peak RSS is that process's alone.

    Raises ArtifactError if the runtime refuses the file, RuntimeFailure if it crashes or hangs.
    """
    from edgeslm.runners.base import open_runner

    with open_runner(artifact, threads, timeout_s=timeout_s) as rt:
        return rt.time(prompt, new_tokens, runs)


def roofline_decode_tps(bytes_per_token: float, bandwidth_gbps: float) -> float:
    """Upper bound on decode tokens/s when every weight is read once per token from DRAM."""
    return bandwidth_gbps * 1e9 / bytes_per_token


def gguf_bytes_per_token(path: Path, spec) -> int:  # noqa: ARG001 - the GGUF knows its tensors
    """Weight bytes a decode step reads: every tensor except the embedding table,
    of which only one row is read, unless it is also the (tied) output head."""
    import gguf

    r = gguf.GGUFReader(path)
    sizes = {t.name: int(t.n_bytes) for t in r.tensors}
    if "output.weight" in sizes:
        sizes.pop("token_embd.weight", None)
    return sum(sizes.values())


def folder_bytes_per_token(path: Path, spec) -> int:
    """ExecuTorch and ONNX keep an fp32 embedding table, of which a decode step reads one row,
    and a separate output projection: weights read ~ the model files minus that table."""
    files = [f for f in path.rglob("*") if f.is_file() and f.suffix in (".pte", ".onnx", ".data")]
    return max(1, sum(f.stat().st_size for f in files) - spec.vocab_size * spec.hidden_size * 4)


# artifact format -> estimator(path, spec) of weight bytes read per decoded token
BYTES_PER_TOKEN = {"gguf": gguf_bytes_per_token, "executorch": folder_bytes_per_token, "onnx": folder_bytes_per_token}
