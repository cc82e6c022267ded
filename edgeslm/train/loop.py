"""A small, exact-resume training loop for causal LMs on a token stream.

* AdamW, linear warm-up then cosine decay to ``min_lr_ratio * lr``, gradient
  clipping, bf16 autocast where the CPU/GPU supports it.
* Batch ``step`` is drawn from an RNG seeded with (seed, step), so a resumed run
  sees exactly the batches an uninterrupted run would.
* Checkpoints are safetensors (model and optimizer moments) plus JSON, written
  to a temporary folder and renamed: a killed run never leaves half a checkpoint.

The loss is a callable ``loss_fn(model, batch) -> scalar``; cross-entropy is
the default, and distillation passes its own.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgeslm.errors import UsageError


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 1000
    batch_size: int = 16  # sequences per step
    seq_len: int = 256  # tokens per sequence
    lr: float = 3e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    ckpt_every: int = 100
    eval_every: int = 100
    eval_batches: int = 8
    bf16: bool = False

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        t = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


@dataclass
class TrainResult:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    tokens_per_s: float = 0.0
    wall_s: float = 0.0


def batch_at(tokens: np.ndarray, step: int, cfg: TrainConfig) -> torch.Tensor:
    """(B, T+1) windows of ``tokens`` for ``step``; a pure function of (seed, step)."""
    rng = np.random.default_rng([cfg.seed, step])
    starts = rng.integers(0, len(tokens) - cfg.seq_len - 1, size=cfg.batch_size)
    return torch.from_numpy(np.stack([tokens[s : s + cfg.seq_len + 1] for s in starts]).astype(np.int64))


def cross_entropy(model, batch: torch.Tensor) -> torch.Tensor:
    logits = model(batch[:, :-1]).logits  # (B, T, V)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten())


@torch.no_grad()
def evaluate(model, tokens: np.ndarray, cfg: TrainConfig) -> float:
    """Mean next-token cross-entropy (nats) over fixed, non-overlapping windows of ``tokens``."""
    model.eval()
    n = cfg.seq_len + 1
    starts = list(range(0, len(tokens) - n, n))[: cfg.eval_batches * cfg.batch_size]
    losses = []
    for i in range(0, len(starts), cfg.batch_size):
        b = torch.from_numpy(np.stack([tokens[s : s + n] for s in starts[i : i + cfg.batch_size]]).astype(np.int64))
        losses.append(float(cross_entropy(model, b)) * len(b))
    model.train()
    return sum(losses) / max(1, len(starts))


def _save(out: Path, model, opt, step: int, cfg: TrainConfig, result: TrainResult) -> None:
    from safetensors.torch import save_file, save_model

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))  # handles tied (shared) tensors
    moments = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            moments[f"{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    save_file(moments, tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps({"step": step, "config": asdict(cfg), "result": asdict(result)}))
    old = out.with_name(out.name + ".old")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _load(path: Path, model, opt, cfg: TrainConfig) -> tuple[int, TrainResult]:
    from safetensors.torch import load_file, load_model

    state = json.loads((path / "state.json").read_text())
    saved = {k: v for k, v in state["config"].items() if k not in ("max_steps", "ckpt_every", "eval_every")}
    mine = {k: v for k, v in asdict(cfg).items() if k in saved}
    if saved != mine:
        diff = {k: (saved[k], mine[k]) for k in saved if saved[k] != mine.get(k)}
        raise UsageError(f"--resume: {path} was trained with a different configuration: {diff} (saved, now).")
    load_model(model, str(path / "model.safetensors"))
    moments = load_file(path / "optimizer.safetensors")
    sd = opt.state_dict()
    for key, v in moments.items():
        i, k = key.split(".", 1)
        sd["state"].setdefault(int(i), {})[k] = v
    opt.load_state_dict(sd)
    return state["step"], TrainResult(**state["result"])


def train(
    model,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    cfg: TrainConfig,
    ckpt_dir: Path,
    *,
    resume: bool = False,
    loss_fn: Callable = cross_entropy,
    progress: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``model`` in place for ``cfg.max_steps`` steps; checkpoints go to ``ckpt_dir/last``."""
    if len(train_tokens) < cfg.seq_len + 2:
        raise UsageError(f"training data has {len(train_tokens)} tokens; seq_len {cfg.seq_len} needs more.")
    torch.manual_seed(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    last = ckpt_dir / "last"
    step, result = 0, TrainResult()
    if resume:
        if not (last / "state.json").is_file():
            raise UsageError(f"--resume: no checkpoint at {last}.")
        step, result = _load(last, model, opt, cfg)
        progress(f"resumed at step {step}")
    model.train()
    t_start, tokens_done, steps_done = time.perf_counter(), 0, 0
    device_type = next(model.parameters()).device.type
    while step < cfg.max_steps:
        for g in opt.param_groups:
            g["lr"] = cfg.lr_at(step)
        batch = batch_at(train_tokens, step, cfg)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        steps_done += 1
        tokens_done += batch.shape[0] * (batch.shape[1] - 1)
        result.steps.append(step)
        result.loss.append(float(loss.detach()))
        elapsed = time.perf_counter() - t_start
        tps = tokens_done / elapsed
        if step % 10 == 0 or step == cfg.max_steps:
            eta = (cfg.max_steps - step) * elapsed / steps_done
            progress(f"step {step}/{cfg.max_steps}  loss {result.loss[-1]:.3f}  lr {cfg.lr_at(step - 1):.2e}  {tps:,.0f} tok/s  eta {eta / 60:.1f} min")
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            result.eval_steps.append(step)
            result.eval_loss.append(evaluate(model, val_tokens, cfg))
            progress(f"step {step}: validation loss {result.eval_loss[-1]:.3f} (ppl {math.exp(result.eval_loss[-1]):.2f})")
        if step % cfg.ckpt_every == 0 or step == cfg.max_steps:
            result.tokens_per_s = tps
            result.wall_s += elapsed
            t_start, tokens_done, steps_done = time.perf_counter(), 0, 0
            _save(last, model, opt, step, cfg, result)
    return result
