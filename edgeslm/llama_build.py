"""How llama.cpp is compiled: the CPU features scripts/install_llama_cpp.py picks, and
llama.cpp's command-line tools built from the same source (build_tools).

Standard library only: the install script imports this before edgeslm's
dependencies exist, and `edgeslm doctor` uses it to tell whether the installed
build still matches this machine. Why AMX is never on: see the install script.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from edgeslm.errors import ToolBuildError
from edgeslm.util import cache_root, publish_build

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


# --- llama.cpp's command-line tools ------------------------------------------

# binary-mode verify, on the host and on boards
DEVICE_TOOLS = ("llama-perplexity", "llama-bench")
# GGUF --calibrate: an importance matrix, then the quantizer that takes one (the Python binding cannot pass it)
HOST_TOOLS = ("llama-imatrix", "llama-quantize")
DEFAULT_ARM_ARCH = "armv8.2-a+dotprod+i8mm"
CROSS = {"aarch64": "aarch64-linux-gnu"}  # arch -> Debian cross-toolchain prefix
_ROOT = Path(__file__).resolve().parent.parent


def default_tools(arch: str) -> tuple[str, ...]:
    """The tools one build makes: the host's build also carries the calibration tools."""
    return DEVICE_TOOLS + (HOST_TOOLS if arch == platform.machine() else ())


def llama_cpp_version() -> str:
    """The llama-cpp-python version whose llama.cpp the tools are built from: the installed one, else the pin."""
    from importlib import metadata

    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        pass
    m = re.search(r'"llama-cpp-python==([^"]+)"', (_ROOT / "pyproject.toml").read_text())
    if not m:
        raise ToolBuildError("llama-cpp-python is not installed and pyproject.toml does not pin it.",
                             hint="run `make venv` first")
    return m.group(1)


def _compiler(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        raise ToolBuildError(f"the C++ compiler {cxx} was not found.",
                             hint="install it (Debian: apt-get install g++, or g++-aarch64-linux-gnu for aarch64)") from None


def tools_plan(arch: str, tools: tuple[str, ...] | None = None, arm_arch: str = DEFAULT_ARM_ARCH) -> dict:
    """What a build of ``tools`` for ``arch`` would be: version, CMake args, compiler, and the cache key over them.

    Raises ToolBuildError for an arch with no known cross toolchain or a missing compiler.
    """
    version = llama_cpp_version()
    tools = tuple(tools or default_tools(arch))
    args = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_OPENMP=OFF"]
    if arch == platform.machine():
        cxx = os.environ.get("CXX", "c++")
        args += host_cmake_args()
    elif arch in CROSS:
        prefix = CROSS[arch]
        cxx = f"{prefix}-g++"
        args += ["-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_SYSTEM_PROCESSOR={arch}",
                 f"-DCMAKE_C_COMPILER={prefix}-gcc", f"-DCMAKE_CXX_COMPILER={cxx}", "-DGGML_NATIVE=OFF",
                 f"-DGGML_CPU_ARM_ARCH={arm_arch}", "-DCMAKE_EXE_LINKER_FLAGS=-static"]
    else:
        raise ToolBuildError(f"no cross toolchain is known for {arch}.",
                             hint=f"known: {', '.join(CROSS)}; or build on the board itself")
    ident = {"version": version, "arch": arch, "cmake_args": args, "tools": sorted(tools), "compiler": _compiler(cxx)}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    return {**ident, "key": key}


def sdist_source(version: str) -> Path:
    """llama.cpp's source from the llama-cpp-python sdist, downloaded and unpacked once into the cache."""
    dest = cache_root() / "llama-cpp-python-src" / version
    src = dest / "vendor" / "llama.cpp"
    if src.is_dir():
        return src
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                              f"llama-cpp-python=={version}", "-d", tmp], capture_output=True, text=True)
        if res.returncode:
            raise ToolBuildError(f"could not fetch the llama-cpp-python {version} sdist:\n{res.stderr[-1500:]}",
                                 hint="the tools build from llama.cpp's source in that sdist; check pip can reach it")
        archive = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        top = next(p for p in Path(tmp).iterdir() if p.is_dir())
        if not dest.exists():
            os.replace(top, dest)
    return src


def tools_dir(plan: dict) -> Path:
    """Where a plan's tools live once built: $EDGESLM_CACHE/llama-tools/<version>-<arch>-<key>/bin."""
    return cache_root() / "llama-tools" / f"{plan['version']}-{plan['arch']}-{plan['key']}" / "bin"


def build_tools(plan: dict) -> Path:
    """The bin folder holding the plan's tools, built now (minutes; a line on stderr says so) unless cached.

    Raises ToolBuildError when CMake or the compiler fails.
    """
    out = tools_dir(plan).parent
    if all((out / "bin" / t).is_file() for t in plan["tools"]):
        return out / "bin"
    src = sdist_source(plan["version"])
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        t0 = time.perf_counter()
        print(f"building {', '.join(plan['tools'])} for {plan['arch']} from llama.cpp in llama-cpp-python "
              f"{plan['version']} (minutes on 2 cores; cached in {out.parent} afterwards)", file=sys.stderr, flush=True)
        jobs = str(os.cpu_count() or 2)
        for cmd in (["cmake", "-S", str(src), "-B", str(work / "build"), *plan["cmake_args"]],
                    ["cmake", "--build", str(work / "build"), "--config", "Release", "-j", jobs, "--target", *plan["tools"]]):
            res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if res.returncode:
                raise ToolBuildError(f"building llama.cpp's tools failed ({cmd[1]} {cmd[2]}):\n{res.stderr[-3000:]}",
                                     hint="cmake and a C++ compiler are needed (the same ones llama-cpp-python built with)")
        (work / "bin").mkdir()
        for t in plan["tools"]:
            shutil.copy2(work / "build" / "bin" / t, work / "bin" / t)
        shutil.rmtree(work / "build")
        (work / "build.json").write_text(json.dumps({**plan, "build_s": round(time.perf_counter() - t0, 1)}, indent=2) + "\n")
        publish_build(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out / "bin"


def host_tool(name: str) -> Path:
    """The path of one of this machine's llama.cpp tools, building the host set first if needed. Raises ToolBuildError."""
    return build_tools(tools_plan(platform.machine())) / name
