"""The PyTorch reference: a Hugging Face model in eager mode, fp32 by default."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from edgeslm.models.loader import LoadedModel
from edgeslm.runners.base import Generation


class TorchRunner:
    """Reference logits and eager-mode generation with a KV cache (DynamicCache)."""

    name = "pytorch"

    def __init__(self, loaded: LoadedModel, threads: int | None = None):
        import torch

        self.loaded = loaded
        self.threads = threads or torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)

    def tokenize(self, text: str) -> list[int]:
        return list(self.loaded.tokenizer.encode(text, add_special_tokens=False))

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        import torch

        key = ("logits", tuple(ids))
        cache = self.loaded.reference_cache
        if key not in cache:
            with torch.inference_mode():
                out = self.loaded.model(torch.tensor([list(ids)]), use_cache=False).logits  # (1, T, V)
            cache[key] = out[0].float().numpy()
        return cache[key]

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        import torch
        from transformers import DynamicCache

        model = self.loaded.model
        with torch.inference_mode():
            cache = DynamicCache(config=model.config)
            t0 = time.perf_counter()
            logits = model(torch.tensor([list(prompt)]), past_key_values=cache, use_cache=True).logits
            prefill = time.perf_counter() - t0
            tok = int(logits[0, -1].argmax())
            out, decode = [tok], 0.0
            for _ in range(max_new_tokens - 1):
                t0 = time.perf_counter()
                logits = model(torch.tensor([[tok]]), past_key_values=cache, use_cache=True).logits
                decode += time.perf_counter() - t0
                tok = int(logits[0, -1].argmax())
                out.append(tok)
        return Generation(out, prefill, decode, len(prompt))

    def close(self) -> None:
        pass
