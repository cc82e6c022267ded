"""GGUF quant types, and llama.cpp's own quantizer reached through llama-cpp-python.

edgeslm writes an F32 GGUF itself and lets llama.cpp's quantizer produce every
other type, so K-quant mixes (which tensors get Q6_K inside Q4_K_M, say) and
shape fallbacks are exactly what llama.cpp's `llama-quantize` would produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
from gguf import GGMLQuantizationType as T
from gguf import LlamaFileType as F

from edgeslm.errors import ExportError, UsageError


@dataclass(frozen=True)
class GGUFQuant:
    name: str  # what users type: "Q4_K_M"
    ftype: F  # llama.cpp's file type, passed to its quantizer
    base: T  # the tensor type most 2-D weights get; its block size decides fit
    why: str  # one line for `inspect` and --help
    # llama.cpp's quantizer weights rounding by an importance matrix for this type (--calibrate); its 8-bit
    # and float types take none
    imatrix: bool = False

    @property
    def block_size(self) -> int:
        return gguf.GGML_QUANT_SIZES[self.base][0]

    @property
    def bits_per_weight(self) -> float:
        block, nbytes = gguf.GGML_QUANT_SIZES[self.base]
        return 8 * nbytes / block


GGUF_QUANTS: dict[str, GGUFQuant] = {
    q.name: q
    for q in (
        GGUFQuant("F32", F.ALL_F32, T.F32, "reference precision; parity checks"),
        GGUFQuant("F16", F.MOSTLY_F16, T.F16, "half size, near-lossless"),
        GGUFQuant("BF16", F.MOSTLY_BF16, T.BF16, "half size, fp32 range; needs bf16-capable CPUs for speed"),
        GGUFQuant("Q8_0", F.MOSTLY_Q8_0, T.Q8_0, "8-bit, block 32: near-lossless, ~2x faster decode than F16"),
        GGUFQuant("Q6_K", F.MOSTLY_Q6_K, T.Q6_K, "6.6 bpw K-quant, block 256", imatrix=True),
        GGUFQuant("Q5_K_M", F.MOSTLY_Q5_K_M, T.Q5_K, "5.5 bpw K-quant mix, block 256", imatrix=True),
        GGUFQuant("Q4_K_M", F.MOSTLY_Q4_K_M, T.Q4_K, "4.5 bpw K-quant mix; the usual phone/laptop choice", imatrix=True),
        GGUFQuant("Q4_0", F.MOSTLY_Q4_0, T.Q4_0, "4.5 bpw, block 32; repacked for ARM dot-product kernels at load", imatrix=True),
    )
}

# llama.cpp's fallback when a tensor's row length is not a multiple of the
# type's block size (tensor_type_fallback in src/llama-quant.cpp). A fallback
# that still does not fit becomes F16.
LLAMA_CPP_FALLBACK: dict[T, T] = {
    T.Q4_K: T.Q5_0,
    T.Q5_K: T.Q5_1,
    T.Q6_K: T.Q8_0,
    T.Q2_K: T.Q4_0,
    T.Q3_K: T.Q4_0,
}


def get_quant(name: str) -> GGUFQuant:
    """Look up a quant type by name (case-insensitive). Raises UsageError if unknown."""
    q = GGUF_QUANTS.get(name.upper())
    if q is None:
        raise UsageError(
            f"unknown GGUF quant type {name!r}.", hint=f"choose one of: {', '.join(GGUF_QUANTS)}"
        )
    return q


def fallback_type(base: T, row_len: int) -> T:
    """The type llama.cpp stores a tensor as when its rows do not fit ``base``."""
    if row_len % gguf.GGML_QUANT_SIZES[base][0] == 0:
        return base
    fb = LLAMA_CPP_FALLBACK.get(base, base)
    return fb if row_len % gguf.GGML_QUANT_SIZES[fb][0] == 0 else T.F16


def quantize_file(src: Path, dst: Path, quant: GGUFQuant, threads: int = 0) -> None:
    """Run llama.cpp's quantizer on an F32/F16 GGUF, in a child process.

    A child because the quantizer is one long C call: a Ctrl-C reached Python
    only inside llama.cpp's log callback, where ctypes swallowed it and the
    quantization ran on. Now an interrupt ends the child and is raised here, and
    a crash of the quantizer is an ExportError, not the end of edgeslm.

    Raises ExportError if it fails, OutputPathError when the disk is full.
    """
    import subprocess
    import sys
    import tempfile

    from edgeslm.outputs import disk_full, disk_full_error
    from edgeslm.util import describe_exit

    cmd = [sys.executable, "-m", "edgeslm.quantize.llama_quantize", str(src), str(dst), str(int(quant.ftype)), str(threads)]
    with tempfile.TemporaryFile() as log:  # llama.cpp logs a line per tensor: kept for the error message only
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait()
        except BaseException:  # Ctrl-C, SIGTERM: the quantizer ends with edgeslm
            proc.kill()
            proc.wait()
            raise
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if rc == 0:
        return
    if disk_full(dst.parent):
        raise disk_full_error(dst.parent)
    how = f"code {rc}" if rc > 0 and rc < 128 else describe_exit(rc)
    raise ExportError(f"llama.cpp's quantizer failed for {quant.name} ({how}):\n{text[-2000:]}")
