"""Calibrated GGUF: llama.cpp's importance matrix, with llama.cpp's own tools.

`llama-imatrix` runs the F32 model over calibration text and records, for every
weight matrix, the mean square of each input channel's activations.
`llama-quantize --imatrix` then weights each rounding error by that importance
when it searches block scales, so channels that carry large activations (the
outliers real models have) are rounded more carefully. This is what published
"imatrix" GGUFs are made with.

The Python binding cannot pass an importance matrix (llama.cpp takes it as a C++
map), so both tools are built from the llama.cpp source of the installed
llama-cpp-python (edgeslm.llama_build) and cached outside the repository.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgeslm.data import TextSet
from edgeslm.errors import DataError, ExportError
from edgeslm.quantize.gguf import GGUFQuant

IMATRIX_CTX = 256  # tokens per chunk, as the other calibrations use
IMATRIX_TIMEOUT_S = 3600.0  # a 135M model takes seconds per chunk on 2 cores; past an hour the tool is stuck
# names the tools record inside the files (quantize.imatrix.file / .dataset): relative, so no local path leaks
_IMATRIX_FILE = "imatrix.gguf"
_TEXT_FILE = "calibration.txt"


@dataclass(frozen=True)
class ImatrixCalibration:
    """What the importance matrix is computed on: the text's provenance and its first ``samples`` chunks of ``ctx`` tokens.

    Known before the tool runs, so the lineage can go into the file that is quantized.
    """

    text: TextSet
    samples: int
    ctx: int = IMATRIX_CTX
    prefix_chars: int = 0  # the tool is handed text.text[:prefix_chars] (0: all of it), enough for the chunks

    def to_dict(self) -> dict:
        return {"method": "imatrix", "source": self.text.source, "sha256": self.text.sha256, "samples": self.samples,
                "ctx": self.ctx, "tokens": self.samples * self.ctx}


def plan_calibration(text: TextSet, n_tokens: int, samples: int, ctx: int = IMATRIX_CTX,
                     prefix_chars: int = 0) -> ImatrixCalibration:
    """The chunks llama-imatrix will run on ``text`` (its first ``prefix_chars`` characters, all if 0, are
    ``n_tokens`` long by the model's tokenizer): at most ``samples``, whole chunks only.

    Raises DataError when the text is shorter than the tool's minimum of two chunks.
    """
    if n_tokens < 2 * ctx:
        raise DataError(f"the calibration text {text.source} has {n_tokens} tokens; llama-imatrix needs at least "
                        f"{2 * ctx}.", hint="give --calibration-data a longer text")
    return ImatrixCalibration(text, min(samples, n_tokens // ctx), ctx, prefix_chars)


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    """Run one llama.cpp tool; its combined output, for the error message. Raises ExportError."""
    from edgeslm.util import describe_exit

    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=IMATRIX_TIMEOUT_S,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise ExportError(f"{what} did not finish within {IMATRIX_TIMEOUT_S:.0f} s.") from e
    log = res.stdout + res.stderr
    if res.returncode:
        how = f"code {res.returncode}" if 0 < res.returncode < 128 else describe_exit(res.returncode)
        raise ExportError(f"{what} failed ({how}):\n{log[-2000:]}")
    return log


def compute_imatrix(f32: Path, cal: ImatrixCalibration, work: Path, threads: int = 0) -> Path:
    """Run llama-imatrix on the F32 GGUF over ``cal``'s chunks; the importance matrix it writes into ``work``.

    Raises ToolBuildError, ExportError.
    """
    from edgeslm.llama_build import host_tool

    tool = host_tool("llama-imatrix")
    body = cal.text.text[:cal.prefix_chars] if cal.prefix_chars else cal.text.text
    (work / _TEXT_FILE).write_text(body, encoding="utf-8")
    cmd = [str(tool), "-m", str(f32), "-f", _TEXT_FILE, "-o", _IMATRIX_FILE, "-c", str(cal.ctx),
           "--chunks", str(cal.samples), "--no-ppl"]
    if threads:
        cmd += ["-t", str(threads)]
    _run(cmd, work, "llama-imatrix")
    if not (work / _IMATRIX_FILE).is_file():
        raise ExportError("llama-imatrix finished without writing its importance matrix.")
    return work / _IMATRIX_FILE


def quantize_with_imatrix(src: Path, dst: Path, quant: GGUFQuant, imatrix: Path, threads: int = 0) -> None:
    """``llama-quantize --imatrix``: ``src`` (F32 GGUF) -> ``dst`` at ``quant``. Raises ToolBuildError, ExportError."""
    from edgeslm.llama_build import host_tool

    tool = host_tool("llama-quantize")
    cmd = [str(tool), "--imatrix", imatrix.name, str(src), str(dst), quant.name]
    if threads:
        cmd.append(str(threads))
    _run(cmd, imatrix.parent, f"llama-quantize --imatrix for {quant.name}")


def calibrated_quantize(f32: Path, dst: Path, quant: GGUFQuant, cal: ImatrixCalibration, threads: int = 0) -> float:
    """F32 GGUF -> ``dst`` quantized with an importance matrix computed on ``cal``; the seconds llama-imatrix took.

    Raises ToolBuildError, ExportError.
    """
    with tempfile.TemporaryDirectory(prefix="edgeslm-imatrix-", dir=dst.parent) as tmp:
        t0 = time.perf_counter()
        imatrix = compute_imatrix(f32, cal, Path(tmp), threads)
        seconds = time.perf_counter() - t0
        quantize_with_imatrix(f32, dst, quant, imatrix, threads)
    return seconds
