"""ExecuTorch programs through the ExecuTorch runtime's Python bindings.

Logits and timed generation call the program's ``forward(tokens, input_pos)``
directly (the same method the C++ TextLLMRunner calls); token ids come from
the C++ Hugging Face tokenizer that TextLLMRunner uses. ``text_runner()`` gives
the official TextLLMRunner itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeslm.errors import ArtifactError
from edgeslm.export.executorch import PTE_FILE
from edgeslm.runners.base import Generation, RunnerOptions, register_runner
from edgeslm.util import captured_stderr



def _pte_and_tokenizer(path: Path) -> tuple[Path, Path]:
    pte = path / PTE_FILE if path.is_dir() else path
    tok = pte.parent / "tokenizer.json"
    if not pte.is_file():
        raise ArtifactError(f"{path} holds no {PTE_FILE}.")
    if not tok.is_file():
        raise ArtifactError(f"{pte.parent} has no tokenizer.json beside the program.", hint="export it again")
    return pte, tok


PTE_IDENTIFIER = b"ET12"  # the flatbuffer file identifier of ExecuTorch programs, at bytes 4..8


@register_runner("executorch")
class ExecuTorchRunner:
    name = "executorch"

    @staticmethod
    def probe(path: Path) -> None:
        """The program and its tokenizer are there, and the program starts like an ExecuTorch flatbuffer."""
        pte, _ = _pte_and_tokenizer(Path(path))
        with open(pte, "rb") as f:
            head = f.read(8)
        if head[4:8] != PTE_IDENTIFIER:
            raise ArtifactError(f"{pte} is not an ExecuTorch program (no {PTE_IDENTIFIER.decode()} identifier).",
                                hint="it is truncated or another kind of file; export it again")

    def __init__(self, path: Path, options: RunnerOptions):  # kv_cache, n_ctx: fixed in the program
        # the custom SDPA/cache ops and the quantized kernels (4/8-bit embeddings)
        # must be registered before the program loads
        import executorch.kernels.quantized  # noqa: F401
        from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401
        from executorch.extension.pybindings import portable_lib

        self.path = Path(path)
        self.pte, self.tokenizer_file = _pte_and_tokenizer(self.path)
        self.threads = threads = options.threads
        portable_lib._unsafe_reset_threadpool(threads)
        with captured_stderr() as log:
            try:
                self.module = portable_lib._load_for_executorch(str(self.pte))
                self.max_seq_len = int(self.module.run_method("get_max_seq_len", [])[0])
            except Exception as e:  # the binding raises RuntimeError with an error code
                err = e
            else:
                err = None
        if err is not None:
            raise ArtifactError(
                f"ExecuTorch could not load {self.pte}: {err}\n{log.text[-800:]}".rstrip(),
                hint="the program is corrupt, truncated or was exported for other operators; export it again",
            )
        self._tok = None

    def describe(self) -> dict:
        """The program's own metadata: its vocabulary and KV-cache length."""
        return {"vocab_size": int(self.module.run_method("get_vocab_size", [])[0]), "max_seq_len": self.max_seq_len}

    def tokenize(self, text: str) -> list[int]:
        if self._tok is None:
            from pytorch_tokenizers import pytorch_tokenizers_cpp as cpp

            with captured_stderr():
                self._tok = cpp.HFTokenizer()
                self._tok.load(str(self.tokenizer_file))
        return list(self._tok.encode(text, 0, 0))

    def _forward(self, ids: Sequence[int], pos: int) -> np.ndarray:
        import torch

        out = self.module.forward([torch.tensor([list(ids)], dtype=torch.long), torch.tensor([pos], dtype=torch.long)])
        return out[0].reshape(-1).numpy()  # (V,) logits of the last token

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """One token per call, as decode runs on device: (T, V)."""
        if len(ids) > self.max_seq_len:
            raise ArtifactError(f"{len(ids)} tokens exceed the program's max_seq_len {self.max_seq_len}.")
        return np.stack([self._forward([t], i) for i, t in enumerate(ids)]).astype(np.float32)

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        if len(prompt) + max_new_tokens > self.max_seq_len:
            raise ArtifactError(f"prompt + new tokens exceed the program's max_seq_len {self.max_seq_len}.")
        t0 = time.perf_counter()
        logits = self._forward(prompt, 0)
        prefill = time.perf_counter() - t0
        tok = int(np.argmax(logits))
        out, decode = [tok], 0.0
        for i in range(max_new_tokens - 1):
            t0 = time.perf_counter()
            logits = self._forward([tok], len(prompt) + i)
            decode += time.perf_counter() - t0
            tok = int(np.argmax(logits))
            out.append(tok)
        return Generation(out, prefill, decode, len(prompt))

    def close(self) -> None:
        self.module = None


def text_runner_generate(path: Path, prompt: str, max_new_tokens: int) -> tuple[bytes, dict]:
    """Greedy generation in ExecuTorch's official C++ TextLLMRunner.

    Returns the text it printed (bytes: pieces of multi-byte characters can
    arrive split) and its stats. Its Python token callback is not used: it
    raises on such split pieces.
    """
    import os
    import sys
    import tempfile

    import executorch.kernels.quantized  # noqa: F401
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401
    from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner

    pte, tok = _pte_and_tokenizer(Path(path))
    stats: list = []
    with captured_stderr():
        runner = TextLLMRunner(str(pte), str(tok))
    cfg = GenerationConfig(echo=False, max_new_tokens=max_new_tokens, temperature=0.0, num_bos=0, num_eos=0)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as out, captured_stderr():
        os.dup2(out.fileno(), 1)
        try:
            runner.generate(prompt, cfg, stats_callback=stats.append)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        printed = out.read()
    text = printed.split(b"\nPyTorchObserver", 1)[0]
    s = stats[0]
    return text, {
        "prompt_tokens": s.num_prompt_tokens, "generated_tokens": s.num_generated_tokens,
        # the runner's own clock, in milliseconds
        "prefill_ms": s.prompt_eval_end_ms - s.inference_start_ms, "decode_ms": s.inference_end_ms - s.prompt_eval_end_ms,
    }
