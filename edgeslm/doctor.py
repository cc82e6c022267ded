"""What a bug report needs: versions, llama.cpp's build, the CPU, and set-ups known to be unsafe.

    d = diagnose()
    print(render(d))

llama.cpp's system info is read in a child process: a build made for another
CPU can die of SIGILL as it loads, and doctor must still print its report.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field

from edgeslm.llama_build import host_cmake_args, installed_record
from edgeslm.manifest import environment
from edgeslm.util import describe_exit

_SYSTEM_INFO_TIMEOUT_S = 120.0
_SYSTEM_INFO = "import llama_cpp, sys; sys.stdout.write(llama_cpp.llama_print_system_info().decode('utf-8', 'replace'))"


@dataclass(frozen=True)
class Diagnosis:
    versions: dict[str, str]  # package -> version ("absent" when not installed)
    llama_system_info: str  # llama.cpp's compile-time features, or why they could not be read
    llama_build: dict | None  # what scripts/install_llama_cpp.py recorded, None if it did not install it
    cpu_model: str
    cpu_flags: tuple[str, ...]  # the ISA flags that decide kernels (see targets._INTERESTING_ISA)
    threads: int  # usable cores; the host target's default thread count derives from it
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (x86 'model name', ARM 'Model' or 'Hardware')."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware", "CPU part"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def llama_system_info() -> tuple[str, str | None]:
    """(system info text, None) or ("", why it could not be read), from a child process."""
    try:
        proc = subprocess.run([sys.executable, "-c", _SYSTEM_INFO], capture_output=True, text=True,
                              timeout=_SYSTEM_INFO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "", f"llama.cpp hung for {_SYSTEM_INFO_TIMEOUT_S:g} s while loading"
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return "", f"llama.cpp {describe_exit(proc.returncode)} while loading {tail[0]}".rstrip()
    return proc.stdout.strip(), None


def diagnose() -> Diagnosis:
    """Collect the report. Never raises for a broken runtime: that is what it reports."""
    from edgeslm.runners.llamacpp import unsafe_features
    from edgeslm.targets import host_isa_flags, usable_cores

    warnings: list[str] = []
    info, err = llama_system_info()
    if err:
        warnings.append(f"{err}: llama-cpp-python does not work on this machine. Rebuild it for this CPU: "
                        f"{sys.executable} scripts/install_llama_cpp.py --rebuild")
    for feature in unsafe_features(info):
        warnings.append(
            f"llama.cpp was built with {feature}: its AMX backend crashed (SIGSEGV) on Q8_0 models. edgeslm loads "
            f"models without extra buffer types (slower Q4_0) to stay safe. Rebuild without AMX: "
            f"{sys.executable} scripts/install_llama_cpp.py --rebuild")
    record = installed_record()
    if record is None:
        warnings.append("llama-cpp-python was not installed by scripts/install_llama_cpp.py, so its CPU features "
                        "are unknown (pip's default build is -march=native, AMX included). Run `make venv`.")
    elif record.get("ours") != host_cmake_args():
        warnings.append("llama-cpp-python was built for another CPU's features than this machine's "
                        f"(built with {' '.join(record.get('ours', []))}). Rebuild: "
                        f"{sys.executable} scripts/install_llama_cpp.py")
    return Diagnosis(
        versions=environment(),
        llama_system_info=info or err or "",
        llama_build=record,
        cpu_model=cpu_model(),
        cpu_flags=host_isa_flags(),
        threads=usable_cores(),
        warnings=tuple(warnings),
    )


def render(d: Diagnosis) -> str:
    """The text `edgeslm doctor` prints."""
    lines = ["versions"]
    lines += [f"  {k:<18} {v}" for k, v in d.versions.items()]
    lines += ["", "llama.cpp", f"  system info        {d.llama_system_info}"]
    if d.llama_build:
        lines.append(f"  built with         {' '.join(d.llama_build.get('cmake_args', [])) or '(llama.cpp defaults)'}")
        lines.append(f"  wheel              {d.llama_build.get('wheel', '?')}")
    else:
        lines.append("  built with         unknown (not installed by scripts/install_llama_cpp.py)")
    lines += ["", "cpu", f"  model              {d.cpu_model}", f"  flags              {' '.join(d.cpu_flags) or '-'}",
              f"  usable cores       {d.threads}   (os.cpu_count {os.cpu_count()})"]
    if d.warnings:
        lines += ["", "warnings"] + [f"  ! {w}" for w in d.warnings]
    else:
        lines += ["", "no known problems"]
    return "\n".join(lines)
