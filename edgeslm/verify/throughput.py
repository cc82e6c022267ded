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
