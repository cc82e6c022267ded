#!/usr/bin/env python3
"""Build llama.cpp's command-line tools, for this machine or cross-compiled for a board.

    python scripts/build_llama_tools.py                       # this machine (x86_64 or aarch64)
    python scripts/build_llama_tools.py --arch aarch64        # cross: Debian's g++-aarch64-linux-gnu
    python scripts/build_llama_tools.py --arch aarch64 --print-dir   # build if needed, print the bin folder

The source is llama.cpp as vendored in the llama-cpp-python sdist that
pyproject.toml pins, so the tools and the Python runtime are the same llama.cpp.
Tools: llama-perplexity (the KL-divergence tool binary-mode verify runs) and
llama-bench (speed); the host's build adds llama-imatrix and llama-quantize
(GGUF --calibrate); others with --tool. The build itself is
edgeslm.llama_build.build_tools, which `edgeslm export --calibrate` also calls.

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
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edgeslm.errors import EdgeSLMError  # noqa: E402
from edgeslm.llama_build import DEFAULT_ARM_ARCH, build_tools, default_tools, tools_plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default=platform.machine(), help="x86_64, aarch64 (default: this machine's)")
    ap.add_argument("--tool", action="append", help="a tool target (repeatable; default: llama-perplexity, llama-bench, "
                                                    "and on the host llama-imatrix, llama-quantize)")
    ap.add_argument("--arm-arch", default=DEFAULT_ARM_ARCH, help="GGML_CPU_ARM_ARCH for aarch64 builds")
    ap.add_argument("--print-dir", action="store_true", help="print only the bin folder (for scripts)")
    args = ap.parse_args(argv)
    try:
        p = tools_plan(args.arch, tuple(args.tool or default_tools(args.arch)), args.arm_arch)
        bin_dir = build_tools(p)
    except EdgeSLMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(bin_dir if args.print_dir else f"{', '.join(p['tools'])} for {p['arch']} in {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
