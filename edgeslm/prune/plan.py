"""What to prune: a request from the user, resolved into a concrete plan of new sizes.

Widths are rounded to multiples the export kernels need (256 for GGUF
K-quants, 32 for group-wise 4-bit), and the plan says when rounding changed
a request. A parameter budget is resolved by a search that prefers pruning
width (MLP, then hidden) over depth, as Minitron found width pruning more
accurate after distillation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgeslm.errors import ConfigError, UsageError
from edgeslm.models.spec import ModelSpec


@dataclass(frozen=True)
class PruneRequest:
    drop_layers: int | None = None  # drop the N least important layers
    layers: tuple[int, ...] | None = None  # or keep exactly these layers
    ffn_dim: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    hidden_size: int | None = None
    target_params: float | None = None  # fraction (<= 1) or absolute count (> 1)
    round_to: int = 256


@dataclass(frozen=True)
class PrunePlan:
    num_layers: int
    layers: tuple[int, ...] | None  # explicit layers to keep, else chosen by importance
    ffn_dim: int
    num_heads: int
    num_kv_heads: int
    hidden_size: int
    notes: tuple[str, ...] = ()

    def spec(self, base: ModelSpec) -> ModelSpec:
        return replace(base, num_layers=self.num_layers, intermediate_size=self.ffn_dim, num_heads=self.num_heads,
                       num_kv_heads=self.num_kv_heads, hidden_size=self.hidden_size)

    def is_identity(self, base: ModelSpec) -> bool:
        return self.spec(base) == base and (self.layers is None or list(self.layers) == list(range(base.num_layers)))


def _round(value: int, original: int, multiple: int, what: str, notes: list[str]) -> int:
    if value == original or multiple <= 1:
        return value
    r = max(multiple, int(round(value / multiple)) * multiple)
    if r > original:
        r = value  # rounding up would exceed the model; keep the request as asked
        notes.append(f"{what}: {value} kept unrounded (the nearest multiple of {multiple} exceeds {original})")
    elif r != value:
        notes.append(f"{what}: {value} rounded to {r} (a multiple of {multiple} for quantized kernels)")
    return r


def _check_width(name: str, value: int | None, original: int) -> None:
    if value is None:
        return
    if value <= 0:
        raise ConfigError(name, f"{value}: a width must be at least 1.")
    if value > original:
        raise ConfigError(name, f"{value} is larger than the model's {original}; pruning only removes structure.")


def resolve(req: PruneRequest, base: ModelSpec) -> PrunePlan:
    """Turn a request into a plan. Raises UsageError for impossible requests.

    For a budget this is the spec-only planner's choice, a check that some plan
    fits; `edgeslm prune` then searches for the plan by measured loss (search.py).
    """
    if req.target_params is not None:
        explicit = (req.drop_layers, req.layers, req.ffn_dim, req.num_heads, req.num_kv_heads, req.hidden_size)
        if any(x is not None for x in explicit):
            raise UsageError("--target-params picks every size itself; do not combine it with explicit sizes.")
        try:
            return plan_for_budget(base, req.target_params, req.round_to)
        except UsageError:
            # the search also goes below half the layers and hidden size: a budget only it can meet is valid
            from edgeslm.prune.search import candidate_plans

            cands = candidate_plans(base, budget_params(base, req.target_params), req.round_to)  # raises if none fits
            return max(cands, key=lambda c: c.params).plan
    notes: list[str] = []
    L = base.num_layers
    if req.layers is not None and req.drop_layers is not None:
        raise UsageError("give either --drop-layers or --layers, not both.")
    layers = None
    if req.layers is not None:
        bad = [i for i in req.layers if not 0 <= i < L]
        if bad:
            raise ConfigError("layers", f"{bad}: the model has layers 0..{L - 1}.")
        if len(set(req.layers)) != len(req.layers):
            raise ConfigError("layers", "lists a layer twice.")
        layers = tuple(sorted(req.layers))
    n_layers = len(layers) if layers is not None else L - (req.drop_layers or 0)
    if req.drop_layers is not None and req.drop_layers < 0:
        raise ConfigError("drop_layers", "must be >= 0.")
    if n_layers <= 0:
        raise UsageError(f"that would drop all {L} layers; keep at least one.")

    _check_width("ffn_dim", req.ffn_dim, base.intermediate_size)
    _check_width("hidden_size", req.hidden_size, base.hidden_size)
    _check_width("num_heads", req.num_heads, base.num_heads)
    _check_width("num_kv_heads", req.num_kv_heads, base.num_kv_heads)
    ffn = _round(req.ffn_dim or base.intermediate_size, base.intermediate_size, req.round_to, "ffn-dim", notes)
    hidden = _round(req.hidden_size or base.hidden_size, base.hidden_size, req.round_to, "hidden-size", notes)

    group = base.num_heads // base.num_kv_heads
    kv = req.num_kv_heads or base.num_kv_heads
    heads = req.num_heads or (kv * group if req.num_kv_heads else base.num_heads)
    if heads % kv:
        raise UsageError(
            f"--num-heads {heads} is not a multiple of --num-kv-heads {kv}; every KV group needs the same number of query heads."
        )
    if heads // kv > group:
        raise UsageError(
            f"{heads} heads over {kv} KV heads is {heads // kv} per group, but the model's groups have {group}: "
            "pruning removes whole KV groups with their query heads, or query heads within groups.",
            hint=f"use --num-heads <= {kv * group}",
        )
    return PrunePlan(n_layers, layers, ffn, heads, kv, hidden, tuple(notes))


def _multiples(original: int, multiple: int, lowest: int) -> list[int]:
    if original < multiple:
        return [original]
    vals = list(range(original - original % multiple, lowest - 1, -multiple))
    return sorted({original, *[v for v in vals if v > 0]}, reverse=True)


def budget_params(base: ModelSpec, target: float) -> float:
    """A --target-params value as parameters: a fraction (<= 1) of ``base``, else a count."""
    return target * base.num_params if target <= 1 else target


def plan_for_budget(base: ModelSpec, target: float, round_to: int = 256) -> PrunePlan:
    """The largest plan at or under the budget from the spec alone, preferring width pruning over depth.

    It needs no model, so it checks a budget before any work and is the
    "spec-only planner" row of a plan search, which `edgeslm prune` uses instead.
    """
    total = base.num_params
    budget = budget_params(base, target)
    if target <= 0:
        raise UsageError("--target-params must be positive (a fraction like 0.5, or a count like 60e6).")
    if budget >= total:
        return PrunePlan(base.num_layers, None, base.intermediate_size, base.num_heads, base.num_kv_heads,
                         base.hidden_size, (f"budget {budget:,.0f} >= model size {total:,}: nothing to prune",))
    best = None
    min_hidden = max(round_to, base.hidden_size // 2)
    for n_layers in range(base.num_layers, max(1, base.num_layers // 2) - 1, -1):
        for hidden in _multiples(base.hidden_size, round_to, min(min_hidden, base.hidden_size)):
            for ffn in _multiples(base.intermediate_size, round_to, 1):
                p = PrunePlan(n_layers, None, ffn, base.num_heads, base.num_kv_heads, hidden)
                n = p.spec(base).num_params
                if n > budget:
                    continue
                # within 3% of the best size found, prefer more layers, then a wider residual stream
                key = (n_layers, hidden, n)
                if best is None or n > best[0] * 1.03 or (n >= best[0] * 0.97 and key > best[1]):
                    best = (n, key, p)
    if best is None:
        smallest = PrunePlan(max(1, base.num_layers // 2), None, min(round_to, base.intermediate_size), base.num_heads,
                             base.num_kv_heads, min(min_hidden, base.hidden_size)).spec(base).num_params
        raise UsageError(
            f"no plan fits {budget:,.0f} parameters; the smallest edgeslm will plan for this model is {smallest:,} "
            f"({smallest / total:.0%}).",
            hint="raise --target-params, or give explicit sizes (--drop-layers, --ffn-dim, --hidden-size)",
        )
    n, _, plan = best
    return replace(plan, notes=(f"budget {budget:,.0f} parameters ({budget / total:.0%}): plan has {n:,}",))


def parse_layers(value: str | None) -> tuple[int, ...] | None:
    """ "0,1,2,5" -> (0, 1, 2, 5). Raises ConfigError (field ``layers``)."""
    if value is None:
        return None
    try:
        return tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError as e:
        raise ConfigError("layers", f"{value!r}: give comma-separated layer numbers, e.g. 0,1,2,5") from e


def parse_budget(value: str | float | None) -> float | None:
    """A parameter budget: a fraction of the model in (0, 1] (0.5) or a count (60M, 60e6, 60000000).

    A bare number above 1 and below 1000 is refused rather than guessed: 1.5
    is neither a fraction nor a plausible count. Raises ConfigError (field ``target_params``).
    """
    if value is None:
        return None
    v = str(value).strip().upper()
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(v[-1:], 1)
    usage = "give a fraction of the model in (0, 1] (0.5) or a parameter count (60M, 60e6)"
    try:
        n = float(v[:-1] if scale != 1 else v) * scale
    except ValueError as e:
        raise ConfigError("target_params", f"{value!r}: {usage}.") from e
    if not n > 0 or n == float("inf"):
        raise ConfigError("target_params", f"{value!r} must be positive: {usage}.")
    if scale == 1 and 1 < n < 1000:
        raise ConfigError("target_params", f"{value!r}: a fraction must be at most 1; for a count give a unit (60M) "
                          "or all its digits (60e6).")
    return n
