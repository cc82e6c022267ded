"""ExecuTorch's own command-line runner, ``llama_main``, built for this machine (binary mode's ExecuTorch tool).

The executorch wheel ships the C++ runtime, kernels and XNNPACK as shared
libraries but no runner. The runner's source (examples/models/llama, the LLM
runner, its custom ops and pytorch/tokenizers, pruned to the ~100 files the
build reads) is vendored in third_party/executorch_llama_main with its
licences; it is compiled against the wheel's headers and libraries, with
gflags, re2, pcre2, sentencepiece and nlohmann-json from Debian's packages
(downloaded and unpacked, never installed). About three minutes on 2 cores,
then cached under $EDGESLM_CACHE/et-runner/<executorch version>-<arch>-<key>.

Standard library only, like llama_build.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeslm.errors import ToolBuildError
from edgeslm.util import cache_root, publish_build

SOURCE = Path(__file__).resolve().parents[1] / "third_party" / "executorch_llama_main"
DEBIAN_PACKAGES = ("libgflags-dev", "libre2-dev", "libpcre2-dev", "libsentencepiece-dev", "libsentencepiece0",
                   "nlohmann-json3-dev")


def _source_digest(src: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in src.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def runner_plan(python: str = sys.executable) -> dict:
    """What a build of llama_main would be: the executorch wheel it links, the source digest, and the cache key.

    Raises ToolBuildError when the vendored source or the executorch wheel is missing.
    """
    if not (SOURCE / "build_llama_main.sh").is_file():
        raise ToolBuildError(f"the llama_main source is not at {SOURCE}.",
                             hint="build from a checkout of the edgeslm repository (third_party/ is not in the wheel)")
    res = subprocess.run([python, "-c", "from executorch.version import __version__ as v, git_version as g; print(v, g)"],
                         capture_output=True, text=True)
    if res.returncode:
        raise ToolBuildError("the executorch wheel is not importable, and llama_main links against it.",
                             hint="run `make venv` first")
    version, commit = res.stdout.split()
    ident = {"executorch_version": version, "executorch_commit": commit, "arch": platform.machine(),
             "source": _source_digest(SOURCE), "debian_packages": list(DEBIAN_PACKAGES)}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    return {**ident, "key": key, "python": python}


def runner_dir(plan: dict) -> Path:
    """Where a plan's build lives: $EDGESLM_CACHE/et-runner/<version>-<arch>-<key> (bin/llama_main, lib/)."""
    return cache_root() / "et-runner" / f"{plan['executorch_version'].split('+')[0]}-{plan['arch']}-{plan['key']}"


def _debs() -> Path:
    """Debian's packages the build unpacks, downloaded once into the cache. Raises ToolBuildError."""
    dest = cache_root() / "et-runner" / "debs"
    if all(any(dest.glob(f"{p}_*.deb")) for p in DEBIAN_PACKAGES):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", "download", *DEBIAN_PACKAGES]
    res = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    if res.returncode and os.geteuid() == 0:  # an image without package lists: fetch them once
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        res = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    if res.returncode:
        raise ToolBuildError(f"could not download Debian's {', '.join(DEBIAN_PACKAGES)}:\n{res.stderr[-1500:]}",
                             hint=f"put their .deb files in {dest}, or run apt-get update and try again")
    return dest


def build_runner(plan: dict) -> Path:
    """The path of llama_main, built now (about three minutes; a line on stderr says so) unless cached.

    Raises ToolBuildError when a tool is missing or the build fails.
    """
    out = runner_dir(plan)
    exe = out / "bin" / "llama_main"
    if exe.is_file():
        return exe
    missing = [t for t in ("cmake", "ninja", "dpkg", "c++") if shutil.which(t) is None]
    if missing:
        raise ToolBuildError(f"building llama_main needs {', '.join(missing)}.",
                             hint="Debian: apt-get install cmake ninja-build g++")
    debs = _debs()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        t0 = time.perf_counter()
        print(f"building ExecuTorch's llama_main against executorch {plan['executorch_version']} (about three minutes on "
              f"2 cores; cached in {out.parent} afterwards)", file=sys.stderr, flush=True)
        env = dict(os.environ, PYTHON=plan["python"], WORK=str(work / "work"), DEBS=str(debs),
                   JOBS=str(os.cpu_count() or 2))
        res = subprocess.run(["bash", str(SOURCE / "build_llama_main.sh"), str(work / "prefix")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode or not (work / "prefix" / "bin" / "llama_main").is_file():
            raise ToolBuildError(f"building llama_main failed:\n{res.stdout[-3000:]}",
                                 hint="cmake, ninja and g++ >= 12 are needed, and the executorch wheel pyproject.toml pins")
        shutil.rmtree(work / "work")
        (work / "prefix" / "build.json").write_text(json.dumps(
            {**{k: v for k, v in plan.items() if k != "python"}, "build_s": round(time.perf_counter() - t0, 1)},
            indent=2) + "\n")
        publish_build(work / "prefix", out)
        shutil.rmtree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return exe


def llama_main() -> Path:
    """This machine's llama_main, building it first if needed. Raises ToolBuildError."""
    return build_runner(runner_plan())
