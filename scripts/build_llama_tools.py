#!/usr/bin/env python3
"""Build llama.cpp's command-line tools, for this machine or cross-compiled for a board.

    python scripts/build_llama_tools.py                       # this machine (x86_64 or aarch64)
    python scripts/build_llama_tools.py --arch aarch64        # cross: Debian's g++-aarch64-linux-gnu
    python scripts/build_llama_tools.py --arch aarch64 --print-dir   # build if needed, print the bin folder

The source is llama.cpp as vendored in the llama-cpp-python sdist that
pyproject.toml pins, so the tools and the Python runtime are the same llama.cpp.
Tools: llama-perplexity (the KL-divergence tool binary-mode verify runs) and
llama-bench (speed); more with --tool.

* Cross builds are static (no aarch64 sysroot needed on the board, and
  qemu-aarch64 runs them without -L), with GGML_OPENMP off, for
  armv8.2-a+dotprod+i8mm unless --arm-arch says otherwise.
* Host builds use edgeslm.llama_build's flags: never -march=native, never AMX.
* The result is cached outside the repository ($EDGESLM_CACHE, else
  ~/.cache/edgeslm/llama-tools/<version>-<arch>-<key>/bin), keyed by the
  version, flags, tools and compiler; a cached build is reused at no cost.
  The sdist is downloaded once, into the same cache.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from edgeslm.llama_build import host_cmake_args  # noqa: E402

DEFAULT_TOOLS = ("llama-perplexity", "llama-bench")
DEFAULT_ARM_ARCH = "armv8.2-a+dotprod+i8mm"
CROSS = {"aarch64": "aarch64-linux-gnu"}  # arch -> Debian cross-toolchain prefix


def cache_root() -> Path:
    base = os.environ.get("EDGESLM_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "edgeslm")
    return Path(base)


def pinned_version() -> str:
    m = re.search(r'"llama-cpp-python==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    if not m:
        sys.exit("pyproject.toml does not pin llama-cpp-python==VERSION")
    return m.group(1)


def _compiler(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        sys.exit(f"{cxx} not found: install it (Debian: apt-get install g++-aarch64-linux-gnu for aarch64)")


def plan(arch: str, tools: tuple[str, ...], arm_arch: str) -> dict:
    version = pinned_version()
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
        sys.exit(f"no cross toolchain known for {arch}; known: {', '.join(CROSS)} (or build on the board itself)")
    ident = {"version": version, "arch": arch, "cmake_args": args, "tools": sorted(tools), "compiler": _compiler(cxx)}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    return {**ident, "key": key}


def sdist_source(version: str) -> Path:
    """llama.cpp's source from the pinned llama-cpp-python sdist, downloaded and unpacked once."""
    dest = cache_root() / "llama-cpp-python-src" / version
    src = dest / "vendor" / "llama.cpp"
    if src.is_dir():
        return src
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={version}", "-d", tmp], check=True)
        archive = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        top = next(p for p in Path(tmp).iterdir() if p.is_dir())
        if not dest.exists():
            os.replace(top, dest)
    return src


def build(p: dict) -> Path:
    """The bin folder holding the tools, built now unless cached. Raises CalledProcessError when the build fails."""
    out = cache_root() / "llama-tools" / f"{p['version']}-{p['arch']}-{p['key']}"
    if all((out / "bin" / t).is_file() for t in p["tools"]):
        return out / "bin"
    src = sdist_source(p["version"])
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        t0 = time.perf_counter()
        print(f"building {', '.join(p['tools'])} for {p['arch']} from llama.cpp in llama-cpp-python {p['version']} "
              "(minutes on 2 cores; cached afterwards)", file=sys.stderr, flush=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "-S", str(src), "-B", str(work / "build"), *p["cmake_args"]], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", str(work / "build"), "--config", "Release", "-j", jobs, "--target",
                        *p["tools"]], check=True, stdout=subprocess.DEVNULL)
        (work / "bin").mkdir()
        for t in p["tools"]:
            shutil.copy2(work / "build" / "bin" / t, work / "bin" / t)
        shutil.rmtree(work / "build")
        (work / "build.json").write_text(json.dumps({**p, "build_s": round(time.perf_counter() - t0, 1)}, indent=2) + "\n")
        if out.exists():  # another build finished first: keep that one
            shutil.rmtree(work)
        else:
            os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out / "bin"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default=platform.machine(), help="x86_64, aarch64 (default: this machine's)")
    ap.add_argument("--tool", action="append", help=f"a tool target (repeatable; default: {', '.join(DEFAULT_TOOLS)})")
    ap.add_argument("--arm-arch", default=DEFAULT_ARM_ARCH, help="GGML_CPU_ARM_ARCH for aarch64 builds")
    ap.add_argument("--print-dir", action="store_true", help="print only the bin folder (for scripts)")
    args = ap.parse_args(argv)
    p = plan(args.arch, tuple(args.tool or DEFAULT_TOOLS), args.arm_arch)
    bin_dir = build(p)
    print(bin_dir if args.print_dir else f"{', '.join(p['tools'])} for {p['arch']} in {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
