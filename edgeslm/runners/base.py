"""The runner protocol and the one timing method every runtime is measured with.

Timing method (identical for every runtime, so numbers compare across formats):
  * the prompt is given as token ids: tokenization is never timed;
  * prefill = wall time of evaluating the whole prompt from an empty cache;
  * decode = summed wall time of the single-token evaluations that follow,
    greedy; choosing the next token (argmax) is outside the timed region;
  * one warm-up run is discarded, then the median of ``runs`` runs is reported.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from edgeslm.errors import ArtifactError, UsageError


@dataclass(frozen=True)
class Generation:
    tokens: list[int]  # new tokens only
    prefill_s: float  # seconds for the prompt
    decode_s: float  # seconds for all single-token steps (sampling excluded)
    prompt_tokens: int

    @property
    def prefill_tps(self) -> float:
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else float("inf")

    @property
    def decode_tps(self) -> float:
        # the first new token comes from the prefill logits; len-1 decode steps follow
        steps = max(len(self.tokens) - 1, 1)
        return steps / self.decode_s if self.decode_s > 0 else float("inf")


@dataclass(frozen=True)
class SpeedResult:
    prefill_tps: float  # tokens/s, median
    decode_tps: float  # tokens/s, median
    prompt_tokens: int
    new_tokens: int
    runs: int
    threads: int
    peak_rss_mib: float | None = None  # of the process that ran only this runtime

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Runner(Protocol):
    """What every runtime offers edgeslm."""

    name: str  # "llama.cpp", "pytorch", ...
    threads: int

    def tokenize(self, text: str) -> list[int]:
        """The runtime's own token ids for ``text``, with no special tokens added."""

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Logits at every position of ``ids`` from an empty cache: (T, V) float32."""

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        """Greedy generation with timings (see module docstring)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class RunnerOptions:
    """How a runtime is set up; the same for every runtime, so it can cross a process boundary.

    ``kv_cache`` is llama.cpp's KV-cache precision ("f16" is what devices run,
    "f32" removes its ~2e-3 logit drift); runtimes without the choice ignore it.
    ``n_ctx`` is the context (tokens) a runtime with a sized context allocates.
    ``runner`` picks a registered runner other than the format's default.
    """

    threads: int = 4
    kv_cache: str = "f16"
    n_ctx: int = 512
    runner: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


RunnerFactory = Callable[[Path, RunnerOptions], Runner]
NAMED_RUNNERS: dict[str, tuple[str, RunnerFactory]] = {}  # runner name -> (format, factory), every runner


def register_runner(fmt: str, *, name: str | None = None):
    """Register ``factory(path, options) -> Runner`` for a format under a name.

    A format's default runner is the one its Format record names; any other
    registered runner can be picked by a target's artifact entry with
    ``runner = "NAME"`` (plugins add theirs this way).
    """

    def deco(factory: RunnerFactory) -> RunnerFactory:
        NAMED_RUNNERS[name or factory.name] = (fmt, factory)
        return factory

    return deco


def runner_factory(fmt: str, runner: str = "") -> RunnerFactory:
    """The factory for ``fmt``: its default, or the registered runner named ``runner``. Raises UsageError."""
    from edgeslm.formats import format_named

    default = format_named(fmt).runner()  # also loads plugins, which may register named runners
    if not runner:
        return default
    found = NAMED_RUNNERS.get(runner)
    if found is None or found[0] != fmt:
        names = [n for n, (f, _) in NAMED_RUNNERS.items() if f == fmt]
        raise UsageError(f"no runner {runner!r} for {fmt} artifacts.", hint=f"{fmt} runners: {', '.join(names)}")
    return found[1]


def load_runner(path: Path, options: RunnerOptions, fmt: str | None = None) -> Runner:
    """Load an artifact in its runtime *in this process*: what the runtime process does.

    Raises ArtifactError if it is missing or corrupt. Everything else should use
    ``open_runner``, which keeps a crash of the runtime out of this process.
    """
    from edgeslm.formats import format_of

    if not path.exists():
        raise ArtifactError(f"artifact {path} does not exist.")
    return runner_factory(fmt or format_of(path).name, options.runner)(path, options)


def open_runner(path: Path, threads: int, *, log: Path | None = None, timeout_s: float | None = None,
                wait: bool = True, device=None, **options):
    """Load an artifact in its own runtime, in a child process (runners.process.RuntimeProcess).

    ``options`` are RunnerOptions fields (kv_cache, n_ctx, runner). The child's
    output goes to ``log``. With ``wait=False`` it returns once the child is
    started, and loading goes on while the caller works (see RuntimeProcess).
    With ``device`` (a devices.Device) the artifact is copied there and the
    runtime process is the agent on that device.
    Raises ArtifactError (missing, corrupt), UsageError (an unknown option),
    RuntimeFailure (the runtime crashed or hung while loading), DeviceError.
    """
    from edgeslm.runners.process import DEFAULT_TIMEOUT_S, RuntimeProcess

    try:
        opts = RunnerOptions(threads=threads, **options)
    except TypeError as e:
        raise UsageError(f"unknown runner option: {e}") from e
    from edgeslm.formats import format_of

    if not path.exists():
        raise ArtifactError(f"artifact {path} does not exist.")
    return RuntimeProcess(path, format_of(path).name, opts, log=log, timeout_s=timeout_s or DEFAULT_TIMEOUT_S, wait=wait,
                          device=device)


def logits_later(runner: Runner, ids: Sequence[int]) -> Callable[[], np.ndarray]:
    """Ask ``runner`` for the (T, V) logits of ``ids`` now and take them from the returned call later.

    A runtime process computes in the meantime, so the caller's own work overlaps
    it; a runner in this process computes when they are taken."""
    send = getattr(runner, "logits_later", None)
    return send(ids) if send is not None else (lambda: runner.logits(ids))


def stats_later(runner: Runner, ids: Sequence[int], ref_logits: np.ndarray):
    """Judge ``runner``'s logits for ``ids`` against the reference's (T, V) ``ref_logits``: the returned call gives
    the window's WindowStats. A runtime process (here or on a device) computes meanwhile; see logits_later."""
    send = getattr(runner, "stats_later", None)
    if send is not None:
        return send(ids, ref_logits)
    from edgeslm.runners.judge import window_stats

    return lambda: window_stats(ref_logits, runner.logits(ids), np.asarray(ids[1:]))


def measure_speed(runner: Runner, prompt: Sequence[int], new_tokens: int = 128, runs: int = 3) -> SpeedResult:
    """Warm up once, then take the median prefill and decode tokens/s of ``runs`` runs."""
    runner.generate(prompt, min(new_tokens, 8))  # warm-up: page in weights, build kernels
    gens = [runner.generate(prompt, new_tokens) for _ in range(runs)]
    return SpeedResult(
        prefill_tps=statistics.median(g.prefill_tps for g in gens),
        decode_tps=statistics.median(g.decode_tps for g in gens),
        prompt_tokens=len(prompt),
        new_tokens=new_tokens,
        runs=runs,
        threads=runner.threads,
    )
