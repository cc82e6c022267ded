"""Which CPU features llama.cpp is compiled with: the choice scripts/install_llama_cpp.py makes.

Standard library only: the install script imports this before edgeslm's
dependencies exist, and `edgeslm doctor` uses it to tell whether the installed
build still matches this machine. Why AMX is never on: see the install script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# the install script's record of what it installed, in the environment it installed into
RECORD_NAME = "edgeslm-llama-cpp.json"


# /proc/cpuinfo flag -> llama.cpp CMake option (x86). AVX-512 needs all five of
# F, CD, VL, DQ and BW, because GGML_AVX512 turns on all five compiler flags.
X86_FEATURES = {
    "sse4_2": "GGML_SSE42",
    "avx": "GGML_AVX",
    "avx2": "GGML_AVX2",
    "fma": "GGML_FMA",
    "f16c": "GGML_F16C",
    "bmi2": "GGML_BMI2",
    "avx_vnni": "GGML_AVX_VNNI",
    "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI",
    "avx512_bf16": "GGML_AVX512_BF16",
}
X86_AVX512 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
# Never on: the AMX backend is what crashed; see the module docstring.
X86_ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

# /proc/cpuinfo "Features" -> -march extension (aarch64)
ARM_FEATURES = {"asimddp": "dotprod", "i8mm": "i8mm", "asimdhp": "fp16", "sve": "sve"}


def cpu_flags(cpuinfo: str) -> set[str]:
    """The ISA flags of the first CPU in a /proc/cpuinfo text ('flags' on x86, 'Features' on ARM)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def cmake_args_for(machine: str, system: str, flags: set[str]) -> list[str]:
    """Our CMake arguments for a CPU. ``machine`` is platform.machine(), ``system`` platform.system()."""
    machine = machine.lower()
    if system != "Linux":
        # macOS: Apple clang's -mcpu=native is right and no Mac CPU has Intel AMX.
        return []
    if machine in ("x86_64", "amd64"):
        on = {opt for flag, opt in X86_FEATURES.items() if flag in flags}
        if all(f in flags for f in X86_AVX512):
            on.add("GGML_AVX512")
        off = (set(X86_FEATURES.values()) | {"GGML_AVX512"}) - on
        args = ["-DGGML_NATIVE=OFF"]
        args += [f"-D{opt}=ON" for opt in sorted(on)]
        args += [f"-D{opt}=OFF" for opt in sorted(off | set(X86_ALWAYS_OFF))]
        return args
    if machine in ("aarch64", "arm64"):
        ext = [e for f, e in ARM_FEATURES.items() if f in flags]
        base = "armv8.2-a" if ext else "armv8-a"
        return ["-DGGML_NATIVE=OFF", f"-DGGML_CPU_ARM_ARCH={'+'.join([base, *ext])}"]
    return ["-DGGML_NATIVE=OFF"]  # unknown ISA: portable code rather than a guess




def host_cmake_args() -> list[str]:
    """cmake_args_for this machine."""
    import platform

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return cmake_args_for(platform.machine(), platform.system(), cpu_flags(cpuinfo))


def installed_record(prefix: str = sys.prefix) -> dict | None:
    """What the install script recorded in this environment, or None (llama-cpp-python installed some other way)."""
    try:
        return json.loads((Path(prefix) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
