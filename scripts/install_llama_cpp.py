#!/usr/bin/env python3
"""Build and install llama-cpp-python with CPU features edgeslm chooses, never AMX.

    python scripts/install_llama_cpp.py            # into the running interpreter's environment
    python scripts/install_llama_cpp.py --show     # print the flags and the cache key, build nothing

Why this exists: pip builds llama-cpp-python from source with llama.cpp's default
GGML_NATIVE=ON (-march=native). On an Intel CPU with AMX that compiles in
llama.cpp's AMX backend, which repacks Q8_0 weights and then crashed (SIGSEGV in
llama_decode) on models edgeslm builds. So the build is never native: every ISA
extension the CPU reports is switched on by name (AVX2, AVX-512, VNNI, BF16 on
x86; dotprod, i8mm, fp16, SVE on ARM) and the AMX options are switched off.

* A user's own CMAKE_ARGS are appended after ours, so theirs win.
* pip caches wheels it built keyed by the source, not the flags, so pip's cache is
  bypassed (--no-cache-dir). Our own wheel cache is keyed by the version, the
  flags, the interpreter and the compiler: a wheel is reused only when all match.
  It lives outside the repository: $EDGESLM_CACHE, else ~/.cache/edgeslm.
* The environment records what it has in <prefix>/edgeslm-llama-cpp.json, which
  `edgeslm doctor` prints; a matching record means there is nothing to do.

Only the standard library is used: this runs before edgeslm is installed.
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
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # edgeslm.llama_build is standard-library only; edgeslm need not be installed
from edgeslm.llama_build import RECORD_NAME, host_cmake_args, installed_record  # noqa: E402
from edgeslm.util import publish_build  # noqa: E402

RECORD = Path(sys.prefix) / RECORD_NAME

def pinned_version() -> str:
    """The llama-cpp-python version pyproject.toml pins."""
    m = re.search(r'"llama-cpp-python==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    if not m:
        sys.exit("pyproject.toml does not pin llama-cpp-python==VERSION")
    return m.group(1)


def compiler_id() -> str:
    cc = os.environ.get("CC", "cc")
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def plan(version: str) -> dict:
    """What to build: version, our flags, the user's flags, and the cache key over all that decides the bytes."""
    ours = host_cmake_args()
    user = os.environ.get("CMAKE_ARGS", "").split()
    ident = {
        "version": version,
        "cmake_args": ours + user,
        "python": sys.implementation.cache_tag,
        "machine": platform.machine(),
        "compiler": compiler_id(),
    }
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return {**ident, "ours": ours, "user": user, "key": key}


def cache_dir() -> Path:
    base = os.environ.get("EDGESLM_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "edgeslm")
    return Path(base) / "llama-cpp-python"


def build_wheel(p: dict, dest: Path) -> Path:
    """pip wheel from the sdist with our flags, bypassing pip's cache; the wheel lands in ``dest``."""
    env = dict(os.environ, CMAKE_ARGS=" ".join(p["cmake_args"]))
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        print(f"building llama-cpp-python {p['version']} from source (several minutes on 2 cores)", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
             "--no-binary", "llama-cpp-python", f"llama-cpp-python=={p['version']}", "-w", str(tmp)],
            env=env, check=True,
        )
        (tmp / "build.json").write_text(json.dumps(p, indent=2) + "\n")
        publish_build(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return next(dest.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--show", action="store_true", help="print the flags and the cache key, build nothing")
    ap.add_argument("--rebuild", action="store_true", help="ignore the wheel cache and build again")
    args = ap.parse_args(argv)

    p = plan(pinned_version())
    if args.show:
        print(json.dumps(p, indent=2))
        return 0
    print(f"llama-cpp-python {p['version']}: CMAKE_ARGS={' '.join(p['cmake_args']) or '(llama.cpp defaults)'}", flush=True)
    rec = installed_record()
    if not args.rebuild and rec and rec.get("key") == p["key"]:
        try:
            import importlib.metadata as md

            if md.version("llama-cpp-python") == p["version"]:
                print("already installed with these flags", flush=True)
                return 0
        except md.PackageNotFoundError:
            pass
    dest = cache_dir() / f"{p['version']}-{p['key']}"
    if args.rebuild and dest.exists():
        shutil.rmtree(dest)
    wheels = list(dest.glob("*.whl"))
    wheel = wheels[0] if wheels else build_wheel(p, dest)
    print(f"installing {wheel}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)], check=True)
    RECORD.write_text(json.dumps({**p, "wheel": str(wheel)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
