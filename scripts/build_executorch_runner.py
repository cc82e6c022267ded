#!/usr/bin/env python3
"""Build ExecuTorch's own runner, llama_main, for this machine (binary-mode verify of .pte artifacts).

    python scripts/build_executorch_runner.py              # build if needed; say where
    python scripts/build_executorch_runner.py --print-dir  # print only the prefix (bin/llama_main, lib/)

The executorch wheel ships the runtime, kernels and XNNPACK as shared
libraries but no runner; the runner's source is vendored, pruned, in
third_party/executorch_llama_main (see its SOURCES.txt and licences). It
compiles against the installed wheel in about three minutes on 2 cores, with
gflags, re2, pcre2, sentencepiece and nlohmann-json unpacked from Debian's
packages (apt-get download; nothing is installed). Needs cmake, ninja and
g++. The prefix is cached outside the repository ($EDGESLM_CACHE, else
~/.cache/edgeslm/et-runner/<executorch version>-<arch>-<key>), keyed by the
wheel, the source and the packages; a cached build is reused at no cost.

Point a target's device at it with [device] tools_from = "<prefix>" (the whole
prefix is copied: llama_main finds lib/ beside bin/), or name llama_main's
path on the device in [device.tools]. The build itself is
edgeslm.executorch_build.build_runner. Run it with the venv's Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edgeslm.errors import EdgeSLMError  # noqa: E402
from edgeslm.executorch_build import build_runner, runner_plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--print-dir", action="store_true", help="print only the prefix folder (for scripts)")
    args = ap.parse_args(argv)
    try:
        exe = build_runner(runner_plan())
    except EdgeSLMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    prefix = exe.parent.parent
    print(prefix if args.print_dir else f"llama_main in {exe} (tools_from = \"{prefix}\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
