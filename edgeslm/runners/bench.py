"""Speed measurement in a process of its own, so peak RSS is the runtime's alone.

    python -m edgeslm.runners.bench ARTIFACT --threads 2 --prompt 1,2,3 --new-tokens 128 --runs 3

prints one JSON object (a SpeedResult) on stdout. Nothing but the runtime and
numpy is imported: the PyTorch reference never shares this process.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeslm.runners.bench")
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--prompt", required=True, help="comma-separated token ids")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)

    from edgeslm.errors import EdgeSLMError
    from edgeslm.runners.base import measure_speed, open_runner
    from edgeslm.util import peak_rss_mib

    try:
        runner = open_runner(args.artifact, threads=args.threads)
        prompt = [int(x) for x in args.prompt.split(",")]
        res = measure_speed(runner, prompt, args.new_tokens, args.runs)
        runner.close()
    except EdgeSLMError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(json.dumps(replace(res, peak_rss_mib=round(peak_rss_mib(), 1)).to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
