"""A small, exact-resume training loop for causal LMs.

* AdamW, linear warm-up then cosine decay to ``min_lr_ratio * lr``, gradient
  accumulation, gradient clipping, bf16 autocast where the CPU/GPU supports it.
* Data comes from ``batches(step) -> Batch``, a pure function of the step
  (``TokenWindows`` draws from an RNG seeded with (seed, step)), so a resumed
  run sees exactly the batches an uninterrupted run would.
* ``batch_size`` is the global batch per optimizer step. It is cut into
  ``grad_accum`` micro-batches, and each of those across torchrun processes
  (edgeslm.train.dist), so the same config gives the same run on 1 or N.
* Checkpoints are safetensors (model and optimizer moments) plus JSON, written
  to a temporary folder and renamed: a killed run never leaves half a checkpoint.

The loss is a callable ``loss_fn(model, batch) -> scalar`` (mean over the
batch's positions); cross-entropy is the default and distillation passes its
own. Evaluation is ``evaluator(model, shard) -> sums`` (see ``TokenEval``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from edgeslm.errors import UsageError
from edgeslm.outputs import atomic_path, previous_of
from edgeslm.train.batches import Batch, eval_windows
from edgeslm.train.dist import Dist, unwrap, wrap
from edgeslm.util import perplexity

# Settings that may change on --resume without changing the run: how long, how
# often to save/evaluate, and how the global batch is cut up.
RESUMABLE_CHANGES = ("max_steps", "ckpt_every", "eval_every", "grad_accum")


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 1000
    batch_size: int = 16  # sequences per optimizer step (global: over micro-batches and processes)
    seq_len: int = 256  # tokens per sequence
    grad_accum: int = 1  # micro-batches per step: activation memory / grad_accum, same result
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

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "seq_len", "grad_accum", "ckpt_every", "eval_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.batch_size % self.grad_accum:
            raise UsageError(f"--batch-size {self.batch_size} is not a multiple of --grad-accum {self.grad_accum}.")
        if self.lr <= 0:
            raise UsageError(f"--lr must be positive, not {self.lr}")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

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
    eval_loss: list[float] = field(default_factory=list)  # held-out cross-entropy, nats/token
    evals: list[dict] = field(default_factory=list)  # every evaluator metric, per eval step
    tokens_per_s: float = 0.0  # training tokens/s over the last checkpoint interval, all processes
    wall_s: float = 0.0


@dataclass(frozen=True)
class StepInfo:
    """What a progress display needs after each optimizer step."""

    step: int
    max_steps: int
    loss: float
    lr: float
    tokens_per_s: float
    eta_s: float


class Evaluator(Protocol):
    windows: torch.Tensor  # (N, T+1) held-out token windows

    def __call__(self, model: torch.nn.Module, shard: slice) -> dict[str, float]:
        """Sums over this process's ``shard`` of the held-out windows, with the token count as "tokens"."""


def cross_entropy(model, batch: Batch) -> torch.Tensor:
    tokens = batch["tokens"]
    logits = model(tokens[:, :-1]).logits  # (B, T, V)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())


@dataclass(frozen=True)
class TokenEval:
    """Held-out next-token cross-entropy (sum, nats) and top-1 accuracy (count) on fixed windows.

    Subclasses add sums per batch in ``more`` (distillation: KL and agreement with the teacher)."""

    windows: torch.Tensor  # (N, T+1)
    batch_size: int = 16

    @torch.no_grad()
    def __call__(self, model, shard: slice) -> dict[str, float]:
        out = {"ce": 0.0, "acc": 0.0, "tokens": 0.0}
        idx = np.arange(len(self.windows))[shard]
        device = next(model.parameters()).device
        for i in range(0, len(idx), self.batch_size):
            rows = slice(int(idx[i]), int(idx[min(i + self.batch_size, len(idx)) - 1]) + 1)
            w = self.windows[rows].to(device)
            x, target = w[:, :-1], w[:, 1:]
            ls = torch.log_softmax(model(x).logits.float(), -1)  # (b, T, V)
            out["ce"] += float(-ls.gather(-1, target.unsqueeze(-1)).sum())
            out["acc"] += float((ls.argmax(-1) == target).sum())
            self.more(rows, x, ls, out)
            out["tokens"] += target.numel()
        return out

    def more(self, rows: slice, x: torch.Tensor, ls: torch.Tensor, out: dict) -> None:
        """Add further sums for the windows ``rows``: x (b, T) inputs, ls (b, T, V) student log-probs."""


def run_eval(model, evaluator: Evaluator, dist: Dist = Dist()) -> dict[str, float]:
    """Means per token over all processes; adds "ppl" when the evaluator reports "ce"."""
    model.eval()
    # equal shares: under FSDP every forward is a collective, so ranks must run the same number
    per = len(evaluator.windows) // dist.world
    shard = slice(dist.rank * per, (dist.rank + 1) * per)
    local = evaluator(model, shard)
    sums = dist.sum(local)
    sums = {k: sums[k] for k in local}  # the evaluator's order, for display
    model.train()
    tokens = max(1.0, sums.pop("tokens"))
    means = {k: v / tokens for k, v in sums.items()}
    if "ce" in means:
        means["ppl"] = perplexity(means["ce"])
    return means


def evaluate(model, tokens: np.ndarray, cfg: TrainConfig) -> float:
    """Mean next-token cross-entropy (nats) over fixed, non-overlapping windows of ``tokens``."""
    return run_eval(model, TokenEval(eval_windows(tokens, cfg.seq_len, cfg.eval_batches * cfg.batch_size), cfg.batch_size))["ce"]


# --- checkpoints ---------------------------------------------------------------


def _full_state(model, opt, dist: Dist) -> tuple[dict, dict]:
    """Unsharded model and optimizer state, keyed by parameter name (the same on 1 or N processes)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=dist.fsdp))


def _save(out: Path, model, opt, step: int, cfg: TrainConfig, result: TrainResult, dist: Dist) -> None:
    msd, osd = _full_state(model, opt, dist)  # a collective under FSDP: every rank calls it
    if dist.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out, folder=True) as tmp:
            _write_checkpoint(tmp, msd, osd, step, cfg, result)
    dist.barrier()


def _write_checkpoint(tmp: Path, msd: dict, osd: dict, step: int, cfg: TrainConfig, result: TrainResult) -> None:
    from safetensors.torch import save_file

    seen: set[int] = set()
    weights = {}
    for k, v in msd.items():  # tied embeddings share storage; safetensors wants each tensor once
        v = v.detach().cpu()
        weights[k] = v.clone() if v.data_ptr() in seen else v.contiguous()
        seen.add(v.data_ptr())
    save_file(weights, tmp / "model.safetensors")
    moments = {f"{name}/{k}": (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu()
               for name, st in osd["state"].items() for k, v in st.items()}
    save_file(moments, tmp / "optimizer.safetensors")
    state = {"step": step, "config": asdict(cfg), "result": asdict(result), "param_groups": osd["param_groups"]}
    (tmp / "state.json").write_text(json.dumps(state))


def check_resumable(path: Path, cfg: TrainConfig) -> dict:
    """The saved state.json; raises UsageError if ``cfg`` would train differently from the saved run."""
    if not (path / "state.json").is_file() and (previous_of(path) / "state.json").is_file():
        path = previous_of(path)
    if not (path / "state.json").is_file():
        raise UsageError(f"--resume: no checkpoint at {path}.", hint="drop --resume to start a new run")
    state = json.loads((path / "state.json").read_text())
    saved = {k: v for k, v in state["config"].items() if k not in RESUMABLE_CHANGES}
    mine = {k: v for k, v in asdict(cfg).items() if k in saved}
    if saved != mine:
        diff = ", ".join(f"{k}: {saved[k]} then, {mine.get(k)} now" for k in saved if saved[k] != mine.get(k))
        raise UsageError(f"--resume: {path} was trained with a different configuration ({diff}).",
                         hint="resume with the original settings, or start a new run in another folder")
    return state


def _load(path: Path, model, opt, cfg: TrainConfig, dist: Dist) -> tuple[int, TrainResult]:
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    state = check_resumable(path, cfg)
    osd: dict = {"state": {}, "param_groups": state["param_groups"]}
    for key, v in load_file(path / "optimizer.safetensors").items():
        name, k = key.rsplit("/", 1)
        osd["state"].setdefault(name, {})[k] = v
    set_state_dict(model, opt, model_state_dict=load_file(path / "model.safetensors"), optim_state_dict=osd,
                   options=StateDictOptions(full_state_dict=True))
    return state["step"], TrainResult(**state["result"])


# --- the loop ------------------------------------------------------------------


def _to(batch: Batch, rows: slice, device: str) -> Batch:
    return {k: v[rows].to(device) for k, v in batch.items()}


def train(
    model: torch.nn.Module,
    batches: Callable[[int], Batch],
    cfg: TrainConfig,
    ckpt_dir: Path,
    *,
    evaluator: Evaluator | None = None,
    resume: bool = False,
    loss_fn: Callable = cross_entropy,
    progress: Callable[[str], None] = print,
    on_step: Callable[[StepInfo], None] | None = None,
    dist: Dist = Dist(),
) -> TrainResult:
    """Train ``model`` in place for ``cfg.max_steps`` steps; checkpoints go to ``ckpt_dir/last``.

    ``on_step`` (rank 0 only) gets a StepInfo after every step; without it a
    line goes to ``progress`` every 10 steps. Raises UsageError on a bad
    --resume and when the global batch does not split over micro-batches/processes.
    """
    if not dist.is_main:
        progress = lambda _: None  # noqa: E731
        on_step = lambda _: None  # noqa: E731
    micro = cfg.batch_size // cfg.grad_accum
    dist.rows(micro)  # fail before the first step, not inside it
    torch.manual_seed(cfg.seed)
    model = wrap(model, dist)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": [p for _, p in named if p.dim() >= 2], "weight_decay": cfg.weight_decay},
         {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    last = ckpt_dir / "last"
    step, result = 0, TrainResult()
    if resume:
        old = previous_of(last)
        if dist.is_main and not (last / "state.json").is_file() and (old / "state.json").is_file():
            old.rename(last)  # killed between _save's two renames: the previous checkpoint is whole
        dist.barrier()
        step, result = _load(last, model, opt, cfg, dist)
        progress(f"resumed at step {step}")
    model.train()
    t_start, tokens_done, steps_done = time.perf_counter(), 0, 0
    device_type = torch.device(dist.device).type
    while step < cfg.max_steps:
        for g in opt.param_groups:
            g["lr"] = cfg.lr_at(step)
        batch = batches(step)
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for m in range(cfg.grad_accum):
            part = _to(batch, slice(m * micro, (m + 1) * micro), "cpu")
            mine = _to(part, dist.rows(micro), dist.device)
            sync = m == cfg.grad_accum - 1 or not hasattr(model, "no_sync")
            with (torch.enable_grad() if sync else model.no_sync()):
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    loss = loss_fn(model, mine) / cfg.grad_accum
                loss.backward()
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        steps_done += 1
        tokens_done += cfg.tokens_per_step
        result.steps.append(step)
        result.loss.append(dist.mean(step_loss))
        elapsed = time.perf_counter() - t_start
        tps = tokens_done / elapsed
        info = StepInfo(step, cfg.max_steps, result.loss[-1], cfg.lr_at(step - 1), tps,
                        (cfg.max_steps - step) * elapsed / steps_done)
        if on_step is not None:
            on_step(info)
        elif step % 10 == 0 or step == cfg.max_steps:
            progress(f"step {step}/{cfg.max_steps}  loss {info.loss:.3f}  lr {info.lr:.2e}  {tps:,.0f} tok/s  "
                     f"eta {info.eta_s / 60:.1f} min")
        if evaluator is not None and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            metrics = run_eval(model, evaluator, dist)
            result.eval_steps.append(step)
            result.eval_loss.append(metrics.get("ce", float("nan")))
            result.evals.append({"step": step, **metrics})
            progress(f"step {step}: validation " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        if step % cfg.ckpt_every == 0 or step == cfg.max_steps:
            result.tokens_per_s = tps
            result.wall_s += elapsed
            t_start, tokens_done, steps_done = time.perf_counter(), 0, 0
            _save(last, model, opt, step, cfg, result, dist)
    unwrap(model).to("cpu")
    return result
