"""GGUF artifacts in llama.cpp, through llama-cpp-python."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeslm.errors import ArtifactError
from edgeslm.runners.base import Generation, RunnerOptions, register_runner
from edgeslm.util import captured_stderr

# llama.cpp KV-cache element types (ggml_type ids), by the names users pass.
KV_CACHE_TYPES = {"f32": 0, "f16": 1}
# A llama.cpp built with its AMX backend repacks Q8_0 weights for AMX and then
# crashed (SIGSEGV in llama_decode). scripts/install_llama_cpp.py never builds it;
# a build that has it anyway (the user's own CMAKE_ARGS) loads without the extra
# buffer types, which is where the AMX repack lives.
UNSAFE_SYSTEM_INFO = ("AMX_INT8 = 1",)


def system_info() -> str:
    """llama.cpp's compile-time feature list, e.g. 'CPU : SSE3 = 1 | AVX2 = 1 | ...'."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def unsafe_features(info: str) -> list[str]:
    """The entries of UNSAFE_SYSTEM_INFO that ``info`` (a system_info() text) shows."""
    return [u for u in UNSAFE_SYSTEM_INFO if u in info]


def _without_extra_buffer_types() -> None:
    """Make every later model load use use_extra_bufts = False (no AMX/CPU weight repacking).

    llama-cpp-python's Llama does not expose the field, but builds its model
    parameters from llama_model_default_params, so that is wrapped. Only ever
    called inside a runtime process.
    """
    import llama_cpp.llama_cpp as lib

    if getattr(lib.llama_model_default_params, "_edgeslm_safe", False):
        return
    default = lib.llama_model_default_params

    def safe_params():
        p = default()
        p.use_extra_bufts = False
        return p

    safe_params._edgeslm_safe = True
    lib.llama_model_default_params = safe_params


@register_runner("gguf")
class LlamaCppRunner:
    """Loads a .gguf in llama.cpp.

    ``options.kv_cache`` is the KV-cache precision: llama.cpp's default f16 is
    what devices run; f32 removes its ~2e-3 logit drift for exact parity checks.
    """

    name = "llama.cpp"

    def __init__(self, path: Path, options: RunnerOptions):
        import llama_cpp  # noqa: F401  (fail here, not mid-measurement, if the build is broken)

        if options.kv_cache not in KV_CACHE_TYPES:
            raise ArtifactError(f"unknown KV-cache type {options.kv_cache!r}; choose one of {', '.join(KV_CACHE_TYPES)}")
        if unsafe_features(system_info()):
            _without_extra_buffer_types()
        self.path = Path(path)
        self.threads = options.threads
        self.kv_cache = options.kv_cache
        self.n_ctx = options.n_ctx
        self._llms: dict[bool, object] = {}
        self._llm(logits_all=False)  # load now so a corrupt file fails at open

    @staticmethod
    def probe(path: Path) -> None:
        """The GGUF header and metadata parse. Raises ArtifactError."""
        from edgeslm.export.gguf import read_lineage

        read_lineage(Path(path))

    def describe(self) -> dict:
        """The build that runs the model: llama.cpp's system info, and whether the AMX guard is on."""
        info = system_info()
        return {"system_info": info, "extra_buffer_types": not unsafe_features(info),
                "vocab_size": int(self._llm(False).n_vocab())}

    def _llm(self, logits_all: bool, n_ctx: int | None = None):
        n_ctx = max(n_ctx or 0, self.n_ctx)
        llm = self._llms.get(logits_all)
        if llm is not None and llm.n_ctx() >= n_ctx:
            return llm
        from llama_cpp import Llama

        kv = KV_CACHE_TYPES[self.kv_cache]
        with captured_stderr() as log:
            try:
                llm = Llama(
                    model_path=str(self.path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=self.threads,
                    n_threads_batch=self.threads, logits_all=logits_all, type_k=kv, type_v=kv, verbose=False,
                    seed=0,
                )
            except (ValueError, RuntimeError) as e:
                err = e
            else:
                err = None
        if err is not None:
            detail = "\n".join(line for line in log.text.splitlines() if "error" in line.lower() or "failed" in line.lower())
            raise ArtifactError(
                f"llama.cpp could not load {self.path}: {err}" + (f"\n{detail[-1500:]}" if detail else ""),
                hint="the file is corrupt, truncated or not a GGUF model; `edgeslm inspect` the checkpoint it came from, "
                     "then export it again",
            )
        self._llms[logits_all] = llm
        return llm

    def tokenize(self, text: str) -> list[int]:
        return list(self._llm(False).tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        llm = self._llm(True, n_ctx=len(ids))
        llm.reset()
        llm.eval(list(ids))
        return np.array(llm.scores[: len(ids)], dtype=np.float32)  # (T, V)

    def _last_logits(self, llm) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        llm = self._llm(False, n_ctx=len(prompt) + max_new_tokens)
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(list(prompt))
        prefill = time.perf_counter() - t0
        tok = int(np.argmax(self._last_logits(llm)))
        out, decode = [tok], 0.0
        for _ in range(max_new_tokens - 1):
            t0 = time.perf_counter()
            llm.eval([tok])
            decode += time.perf_counter() - t0
            tok = int(np.argmax(self._last_logits(llm)))
            out.append(tok)
        return Generation(out, prefill, decode, len(prompt))

    def close(self) -> None:
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()
