"""Sequence-level distillation (Kim & Rush, 2016): the teacher writes the training text.

Prompts come from prompt/response JSONL (the teacher's continuation replaces
the response) or from prefixes of plain text. Each sample becomes
prompt + continuation + EOS in one token stream, which the student then
trains on like any other data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgeslm.errors import DataError, UsageError


@dataclass(frozen=True)
class GenerateConfig:
    num_prompts: int = 256
    prompt_tokens: int = 32  # prefix length, for plain text
    max_new_tokens: int = 128
    temperature: float = 0.8  # 0: greedy
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if min(self.num_prompts, self.prompt_tokens, self.max_new_tokens, self.batch_size) < 1:
            raise UsageError("--num-prompts, --prompt-tokens and --max-new-tokens must be at least 1.")
        if self.temperature < 0:
            raise UsageError(f"--gen-temperature must be >= 0, not {self.temperature}")


def jsonl_prompts(path: Path) -> list[str] | None:
    """The "prompt" strings of a JSONL file, or None when ``path`` is not JSONL."""
    if path.suffix != ".jsonl" or not path.is_file():
        return None
    prompts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str):
                raise DataError(f"{path}:{n}: --generate needs a string \"prompt\" in every JSONL record.",
                                hint='for example: {"prompt": "def add(a, b):", "response": "..."}')
            prompts.append(rec["prompt"])
    return prompts


def text_prompts(ids: np.ndarray, cfg: GenerateConfig) -> list[list[int]]:
    """``num_prompts`` prefixes of ``prompt_tokens`` tokens, from seeded positions in the stream."""
    if len(ids) <= cfg.prompt_tokens:
        raise DataError(f"the data has {len(ids)} tokens, too few for {cfg.prompt_tokens}-token prompts.")
    starts = np.random.default_rng([cfg.seed, 17]).integers(0, len(ids) - cfg.prompt_tokens, size=cfg.num_prompts)
    return [ids[s : s + cfg.prompt_tokens].tolist() for s in starts]


@torch.no_grad()
def generate_stream(teacher, prompts: list[list[int]], eos_id: int | None, cfg: GenerateConfig,
                    progress: Callable[[str], None] = print) -> np.ndarray:
    """prompt + teacher continuation + EOS for each prompt, concatenated: (N_tokens,) int64."""
    teacher.eval()
    torch.manual_seed(cfg.seed)
    sampling = {"do_sample": True, "temperature": cfg.temperature, "top_k": 0} if cfg.temperature > 0 else {"do_sample": False}
    # equal-length prompts batch without padding; others go one by one
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    out: list[list[int] | None] = [None] * len(prompts)
    done = 0
    for length, members in by_len.items():
        for j in range(0, len(members), cfg.batch_size):
            rows = members[j : j + cfg.batch_size]
            x = torch.tensor([prompts[i] for i in rows])
            gen = teacher.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=cfg.max_new_tokens,
                                   min_new_tokens=1, eos_token_id=eos_id, pad_token_id=eos_id, **sampling)
            for i, seq in zip(rows, gen.tolist()):
                cont = seq[length:]
                if eos_id is not None and eos_id in cont:
                    cont = cont[: cont.index(eos_id)]
                out[i] = prompts[i] + cont + ([eos_id] if eos_id is not None else [])
            done += len(rows)
            progress(f"teacher wrote {done}/{len(prompts)} continuations")
    return np.asarray([t for seq in out for t in seq], dtype=np.int64)
