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

from edgeslm.errors import EdgeSLMError, RecipeError
from edgeslm.models.loader import DEMO_TEACHER
from edgeslm.targets import Gates, Target, check_keys, gates_from_dict, load_target, read_profile

NAMED_DATA = ("stdlib", "stress")  # data sets edgeslm ships; anything else is a path


@dataclass(frozen=True)
class DataSpec:
    """Where each role's text comes from: a named set or a path (relative to the recipe file)."""

    calibration: str = "stdlib"  # pruning importance (stdlib: its train split)
    train: str = "stdlib"  # distillation (stdlib: its train split)
    eval: str = "stdlib"  # held-out: distillation curves and verification (stdlib: its test split)


@dataclass(frozen=True)
class PruneStep:
    """`edgeslm prune`'s options; one of target_params, drop_layers or a width is needed."""

    target_params: float | None = None  # fraction (<= 1) or count
    drop_layers: int | None = None
    ffn_dim: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    hidden_size: int | None = None
    round_to: int = 256
    calib_samples: int = 64
    seq_len: int = 256
    layer_metric: str = "block-influence"


@dataclass(frozen=True)
class DistillStep:
    """`edgeslm distill`'s options (logit KD on the training data, against the recipe's teacher)."""

    max_steps: int = 200
    batch_size: int = 16
    seq_len: int = 256
    grad_accum: int = 1
    lr: float = 1e-3
    kd_weight: float = 1.0
    loss: str = "forward"
    temperature: float = 1.0
    beta: float = 0.5
    eval_every: int = 50
    ckpt_every: int = 25
    seed: int = 0
    bf16: bool = False


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
    """A step dataclass from a table, each value of its field's type. Raises RecipeError."""
    if not isinstance(d, dict):
        raise RecipeError(f"{where} must be a table of options.")
    names = {f.name: f for f in fields(cls)}
    check_keys(d, set(names), where, RecipeError)
    for k, v in d.items():
        ok = _TYPES.get(names[k].type, lambda _: True)(v)
        if not ok:
            raise RecipeError(f"{where}.{k}: expected {names[k].type}, not {v!r}.")
    try:
        return cls(**d)
    except EdgeSLMError as e:
        raise RecipeError(f"{where}: {e.message}", hint=e.hint) from e


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


_TYPES = {
    "int": _is_pos_int, "int | None": lambda v: v is None or _is_pos_int(v), "float": _is_num,
    "float | None": lambda v: v is None or (_is_num(v) and v > 0), "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
}


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
    if prune and not any(getattr(prune, k) is not None for k in ("target_params", "drop_layers", "ffn_dim", "num_heads",
                                                                 "num_kv_heads", "hidden_size")):
        raise RecipeError(f"{p}: prune: say what to prune: target_params, drop_layers, ffn_dim, num_heads, "
                          "num_kv_heads or hidden_size.")
    distill = _step(DistillStep, raw["distill"], f"{p}: distill") if "distill" in raw else None
    if distill:
        from edgeslm.distill.losses import KINDS

        if distill.loss not in KINDS:
            raise RecipeError(f"{p}: distill.loss: unknown loss {distill.loss!r}; choose one of {', '.join(KINDS)}.")
        if not 0 <= distill.kd_weight <= 1:
            raise RecipeError(f"{p}: distill.kd_weight must be in [0, 1], not {distill.kd_weight}.")
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
