"""llama.cpp's quantizer as a process of its own (see quantize.gguf.quantize_file).

    python -m edgeslm.quantize.llama_quantize SRC DST FTYPE THREADS

Exits with llama_model_quantize's return code; its log goes to stderr.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import llama_cpp

    from edgeslm.util import die_with_parent

    die_with_parent()
    src, dst, ftype, threads = argv
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = int(threads)
    return int(llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
