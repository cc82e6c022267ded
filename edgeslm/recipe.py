"""Recipes: one file that names the whole chain, validated before any work.

    recipe = load_recipe(Path("examples/recipes/quickstart.toml"))

A recipe (TOML or YAML, like targets/) names the teacher (a checkpoint folder,
or ``demo``), the data for calibration, training and evaluation (``stdlib``,
``stress`` or a path), an optional ``[prune]`` step with `edgeslm prune`'s
options, an optional ``[distill]`` step with `edgeslm distill`'s, one or more
``[[targets]]`` (a target name or profile file, optional gate overrides and an
optional artifact list), and the output folder. Unknown keys are refused with
a suggestion, and every error names the field and the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeslm.errors import ConfigError, EdgeSLMError, RecipeError
from edgeslm.models.loader import DEMO_TEACHER
from edgeslm.targets import Gates, Target, check_keys, gates_from_dict, load_target, read_profile

NAMED_DATA = ("stdlib", "stress")  # data sets edgeslm ships; anything else is a path


@dataclass(frozen=True)
class DataSpec:
    """Where each role's text comes from: a named set or a path (relative to the recipe file)."""

    calibration: str = "stdlib"  # pruning importance (stdlib: its train split)
    train: str = "stdlib"  # distillation (stdlib: its train split)
    eval: str = "stdlib"  # held-out: distillation curves and verification (stdlib: its test split)


def _opt(default: Any = None, *, least: float | None = None, above: float | None = None, choices: tuple = ()) -> Any:
    """A step field with the bound its value must keep; `_step` checks it and names the field in the error."""
    return field(default=default, metadata={"least": least, "above": above, "choices": choices})


@dataclass(frozen=True)
class PruneStep:
    """`edgeslm prune`'s options; one of target_params, drop_layers, layers or a width is needed.

    ``target_params`` is a fraction of the model (0.5) or a count, with a unit as a string ("60M") or
    as a number (60e6); it is kept as the number `prune.plan.parse_budget` makes of it. ``layers``
    (the layers to keep) is a list or a string "0,1,2,5", kept as a tuple.
    """

    target_params: float | str | None = None
    drop_layers: int | None = _opt(least=1)
    layers: tuple | str | None = None
    ffn_dim: int | None = _opt(least=1)
    num_heads: int | None = _opt(least=1)
    num_kv_heads: int | None = _opt(least=1)
    hidden_size: int | None = _opt(least=1)
    round_to: int = _opt(256, least=1)
    calib_samples: int = _opt(64, least=1)
    seq_len: int = _opt(256, least=8)
    layer_metric: str = _opt("block-influence", choices=("block-influence", "perplexity"))
    random_seed: int | None = _opt(least=0)  # rank structures randomly: a baseline, not for use
    search_steps: int = _opt(0, least=0)  # distil the best candidates this many steps and re-rank them
    rounds: int = _opt(1, least=1)  # reach target_params in this many cuts, distilling between them
    round_steps: int = _opt(50, least=0)  # distillation steps between rounds

    def __post_init__(self) -> None:
        from edgeslm.prune.plan import parse_budget, parse_layers

        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: normalised once, here)
        set_("target_params", parse_budget(self.target_params))
        if self.rounds > 1 and self.target_params is None:
            raise ConfigError("rounds", f"{self.rounds} rounds need a budget: set target_params too.")
        if isinstance(self.layers, str):
            set_("layers", parse_layers(self.layers))
        elif self.layers is not None:
            if not self.layers or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in self.layers):
                raise ConfigError("layers", f"{list(self.layers)!r}: give the layer numbers to keep, e.g. [0, 1, 2, 5]")
            set_("layers", tuple(self.layers))

    @property
    def says_what(self) -> bool:
        return any(getattr(self, k) is not None for k in ("target_params", "drop_layers", "layers", "ffn_dim",
                                                          "num_heads", "num_kv_heads", "hidden_size"))


@dataclass(frozen=True)
class DistillStep:
    """`edgeslm distill`'s options (logit KD on the training data, against the recipe's teacher).

    ``cache_teacher = true`` caches the teacher's top-``top_k`` log-probabilities once, in a stage folder
    of its own keyed by the teacher, the data and the settings, and trains against it (the fast path for
    a large teacher). ``generate = true`` is sequence-level KD: the teacher writes the training text.
    """

    max_steps: int = _opt(200, least=1)
    batch_size: int = _opt(16, least=1)
    seq_len: int = _opt(256, least=8)
    grad_accum: int = _opt(1, least=1)
    lr: float = _opt(1e-3, above=0)
    kd_weight: float = _opt(1.0, least=0)
    loss: str = "forward"
    temperature: float = _opt(1.0, above=0)
    beta: float = _opt(0.5, least=0)
    eval_every: int = _opt(50, least=1)
    ckpt_every: int = _opt(25, least=1)
    seed: int = _opt(0, least=0)
    bf16: bool = False
    hidden_weight: float = _opt(0.0, least=0)  # > 0: also match hidden states (cosine or mse)
    hidden_loss: str = "cosine"
    layer_map: str | None = None  # STUDENT:TEACHER pairs, "0:0,1:2"; default: from the prune step's record
    cache_teacher: bool = False
    top_k: int = _opt(64, least=1)
    generate: bool = False
    num_prompts: int = _opt(256, least=1)
    prompt_tokens: int = _opt(32, least=1)
    max_new_tokens: int = _opt(128, least=1)
    gen_temperature: float = _opt(0.8, least=0)

    def __post_init__(self) -> None:
        from edgeslm.distill.hidden import LOSSES, parse_layer_map
        from edgeslm.distill.losses import KINDS

        if self.loss not in KINDS:
            raise ConfigError("loss", f"{self.loss!r} is not a loss; choose one of {', '.join(KINDS)}.")
        if self.kd_weight > 1:
            raise ConfigError("kd_weight", f"must be in [0, 1], not {self.kd_weight}.")
        if self.hidden_loss not in LOSSES:
            raise ConfigError("hidden_loss", f"{self.hidden_loss!r} is not a hidden-state loss; choose {' or '.join(LOSSES)}.")
        if self.layer_map is not None:
            try:
                parse_layer_map(self.layer_map)
            except EdgeSLMError as e:
                raise ConfigError("layer_map", f"{self.layer_map!r} is not a list of STUDENT:TEACHER layer pairs.",
                                  hint='for example layer_map = "0:0,1:2"') from e
        if self.cache_teacher and self.hidden_weight > 0:
            raise ConfigError("cache_teacher", "cannot go with hidden_weight: the cache holds the teacher's top-k "
                              "log-probabilities, not its hidden states.", hint="drop one of the two")


@dataclass(frozen=True)
class TargetStep:
    """A target to build and verify for, with the recipe's gate overrides and artifact list."""

    target: Target
    gates: Gates = field(default_factory=Gates)

    @property
    def effective(self) -> Target:
        from dataclasses import replace

        return replace(self.target, gates=self.target.gates.merged(self.gates))


@dataclass(frozen=True)
class Recipe:
    name: str
    teacher: Path
    data: DataSpec
    prune: PruneStep | None
    distill: DistillStep | None
    targets: tuple[TargetStep, ...]
    output: Path
    source: Path  # the recipe file
    sha256: str  # of the file's bytes: the recipe's identity in lineage

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "teacher": str(self.teacher), "data": asdict(self.data),
            "prune": asdict(self.prune) if self.prune else None, "distill": asdict(self.distill) if self.distill else None,
            "targets": [{"target": t.target.name, "source": t.target.source, "gates": asdict(t.gates),
                         "artifacts": [a.label for a in t.target.artifacts]} for t in self.targets],
            "output": str(self.output), "source": str(self.source), "sha256": self.sha256,
        }


_TOP = {"name", "teacher", "data", "prune", "distill", "targets", "output"}
_TARGET_STEP = {"target", "gates", "artifacts"}


def _step(cls, d: Any, where: str):
    """A step dataclass from a table, each value of its field's type and within its bounds. Raises RecipeError."""
    if not isinstance(d, dict):
        raise RecipeError(f"{where} must be a table of options.")
    names = {f.name: f for f in fields(cls)}
    check_keys(d, set(names), where, RecipeError)
    for k, v in d.items():
        problem = _value_problem(names[k], v)
        if problem:
            raise RecipeError(f"{where}.{k}: {problem}")
    try:
        return cls(**d)
    except ConfigError as e:
        raise RecipeError(f"{where}.{e.field}: {e.problem}", hint=e.hint) from e
    except EdgeSLMError as e:
        raise RecipeError(f"{where}: {e.message}", hint=e.hint) from e


# what each annotation's values may be: (test, how the error words it)
_KINDS = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "tuple": (lambda v: isinstance(v, list), "a list"),
}


def _value_problem(f, v: Any) -> str | None:
    """Why ``v`` cannot fill field ``f`` (its annotation's kinds, then its bounds), or None."""
    kinds = [k.strip() for k in f.type.split("|")]
    if v is None:
        return None if "None" in kinds else f"needs a value ({f.type})."
    fits = [k for k in kinds if k in _KINDS and _KINDS[k][0](v)]
    if not fits:
        return f"expected {' or '.join(_KINDS[k][1] for k in kinds if k in _KINDS)}, not {v!r}."
    m = f.metadata
    if m.get("least") is not None and v < m["least"]:
        return f"must be at least {m['least']}, not {v!r}."
    if m.get("above") is not None and v <= m["above"]:
        return f"must be above {m['above']}, not {v!r}."
    if m.get("choices") and v not in m["choices"]:
        return f"{v!r} is not one of {', '.join(m['choices'])}."
    return None


def _data(d: Any, where: str, base: Path) -> DataSpec:
    spec = _step(DataSpec, d, where)
    for role in ("calibration", "train", "eval"):
        value = getattr(spec, role)
        if value not in NAMED_DATA and not (base / value).exists():
            raise RecipeError(f"{where}.{role}: data path {value!r} does not exist (relative to {base}).",
                              hint=f"give a file, a folder, or one of the named sets: {', '.join(NAMED_DATA)}")
    return spec


def _targets(items: Any, source: Path) -> tuple[TargetStep, ...]:
    from edgeslm.errors import TargetError
    from edgeslm.targets import target_from_dict

    if not isinstance(items, list) or not items:
        raise RecipeError(f"{source}: 'targets' must list at least one [[targets]] entry.")
    out = []
    for i, t in enumerate(items):
        where = f"{source}: targets[{i}]"
        if isinstance(t, str):
            t = {"target": t}
        if not isinstance(t, dict):
            raise RecipeError(f"{where} must be a target name or a table with 'target'.")
        check_keys(t, _TARGET_STEP, where, RecipeError)
        name = t.get("target")
        if not isinstance(name, str):
            raise RecipeError(f"{where}: 'target' must name a target (see `edgeslm targets list`) or a profile file.")
        path = source.parent / name
        try:
            target = load_target(path if path.suffix in (".toml", ".yaml", ".yml") else name)
            if "artifacts" in t:  # the recipe's own list replaces the profile's, validated by the same rules
                profile = read_profile(Path(target.source)) if target.source else {}
                profile["artifacts"] = t["artifacts"]
                target = target_from_dict(profile, f"{where}.artifacts ({target.source})")
            gates = gates_from_dict(t.get("gates", {}), f"{where}.gates")
        except TargetError as e:
            raise RecipeError(f"{where}: {e.message}", hint=e.hint) from e
        if any(o.target.name == target.name for o in out):
            raise RecipeError(f"{where}: target {target.name!r} is listed twice; each target builds once.",
                              hint="merge the entries, or copy the profile under another name")
        out.append(TargetStep(target, gates))
    return tuple(out)


def _check_plan(prune: PruneStep, teacher: Path, where: str) -> None:
    """Resolve the prune step against the teacher's config (no weights loaded): a plan the model cannot take
    (layers it lacks, a width above its own, a budget below any plan) is refused before any work."""
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest, resolve

    req = PruneRequest(drop_layers=prune.drop_layers, layers=prune.layers, ffn_dim=prune.ffn_dim,
                       num_heads=prune.num_heads, num_kv_heads=prune.num_kv_heads, hidden_size=prune.hidden_size,
                       target_params=prune.target_params, round_to=prune.round_to)
    try:
        resolve(req, open_checkpoint(teacher).spec)
    except ConfigError as e:
        raise RecipeError(f"{where}.{e.field}: {e.problem}", hint=e.hint) from e
    except EdgeSLMError as e:
        raise RecipeError(f"{where}: {e.message}", hint=e.hint) from e


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe. Raises RecipeError naming the field and the file."""
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"recipe {p} does not exist.", hint="see examples/recipes/ for recipes to start from")
    raw = read_profile(p, RecipeError, "recipe")
    check_keys(raw, _TOP, str(p), RecipeError)
    base = p.parent
    teacher_field = raw.get("teacher")
    if not isinstance(teacher_field, str):
        raise RecipeError(f"{p}: 'teacher' must be a checkpoint folder or \"demo\".")
    teacher = DEMO_TEACHER if teacher_field == "demo" else (base / teacher_field)
    if not (teacher / "config.json").is_file():
        raise RecipeError(f"{p}: teacher: {teacher} is not a checkpoint folder (no config.json).",
                          hint='give the folder of a Hugging Face checkpoint, or "demo" for the demo teacher')
    prune = _step(PruneStep, raw["prune"], f"{p}: prune") if "prune" in raw else None
    if prune and not prune.says_what:
        raise RecipeError(f"{p}: prune: say what to prune: target_params, drop_layers, layers, ffn_dim, num_heads, "
                          "num_kv_heads or hidden_size.")
    if prune:
        _check_plan(prune, teacher, f"{p}: prune")
    distill = _step(DistillStep, raw["distill"], f"{p}: distill") if "distill" in raw else None
    output = raw.get("output", f"build/{raw.get('name', p.stem)}")
    if not isinstance(output, str):
        raise RecipeError(f"{p}: 'output' must be a folder path.")
    return Recipe(
        name=str(raw.get("name", p.stem)),
        teacher=teacher.resolve(),
        data=_data(raw.get("data", {}), f"{p}: data", base),
        prune=prune,
        distill=distill,
        targets=_targets(raw.get("targets"), p),
        output=Path(output),
        source=p.resolve(),
        sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
    )


def stage_key(*parts: Any) -> str:
    """The content address of a stage: a hash of its configuration and its inputs' identities (12 hex)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
