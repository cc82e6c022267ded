"""What `edgeslm prune` returns and leaves beside the weights: the PrunedCheckpoint and its PruneRecord.

prune_record.json holds PruneRecord.to_dict(); its layout is an interface
(users' scripts read it), so field names follow it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeslm.errors import ModelLoadError
from edgeslm.models.loader import CheckpointDir, open_checkpoint
from edgeslm.prune.apply import Keep
from edgeslm.prune.plan import PrunePlan

RECORD = "prune_record.json"


@dataclass(frozen=True)
class PruneRecord:
    source: dict[str, Any]  # name, path, sha256, spec of the checkpoint pruned
    request: dict[str, Any]  # the PruneRequest as asked
    plan: dict[str, Any]  # the sizes it resolved to
    selection: str  # "importance" or "random (seed N)"
    layer_metric: str
    calibration: dict[str, Any]  # windows, tokens, text sha256
    evaluation: dict[str, Any]
    importance: dict[str, Any]  # layers (L,), mlp [(F,)...], heads [(H,)...], hidden (D,)
    kept: Keep  # indices kept, in the source's numbering
    report: dict[str, dict[str, float]]  # part ("all", "mlp", ...) -> ppl_source, ppl_pruned, mean_kl
    params: dict[str, int]  # before, after
    prune_seconds: float
    edgeslm_version: str
    search: dict[str, Any] | None = None  # PlanSearch.to_dict() when a budget was searched: candidates best first
    rounds: list[dict[str, Any]] = field(default_factory=list)  # pruning in rounds: each round's budget, plan, KL

    @property
    def prune_plan(self) -> PrunePlan:
        """The plan the checkpoint was cut to."""
        return PrunePlan(**{**self.plan, "layers": tuple(self.plan["layers"]) if self.plan["layers"] else None,
                            "notes": tuple(self.plan.get("notes", ()))})

    @property
    def kept_fraction(self) -> float:
        return self.params["after"] / self.params["before"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "edgeslm_version": self.edgeslm_version, "source": self.source, "request": self.request, "plan": self.plan,
            "selection": self.selection, "layer_metric": self.layer_metric, "calibration": self.calibration,
            "evaluation": self.evaluation, "importance": self.importance, "kept": self.kept.to_dict(),
            "report": self.report, "params": self.params, "prune_seconds": self.prune_seconds,
            "search": self.search, "rounds": self.rounds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PruneRecord:
        k = d["kept"]
        keep = Keep(layers=tuple(k["layers"]), hidden=tuple(k["hidden"]),
                    **{part: {int(layer): tuple(v) for layer, v in k[part].items()} for part in ("ffn", "q_heads", "kv_heads")})
        return cls(d["source"], d["request"], d["plan"], d["selection"], d["layer_metric"], d["calibration"],
                   d["evaluation"], d["importance"], keep, d["report"], d["params"], d["prune_seconds"],
                   d["edgeslm_version"], d.get("search"), d.get("rounds", []))

    @classmethod
    def read(cls, folder: Path) -> PruneRecord | None:
        """The record beside a pruned checkpoint; None when there is none. Raises ModelLoadError if it is damaged."""
        path = folder / RECORD
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelLoadError(f"{path} is damaged: {type(e).__name__}: {e}",
                                 hint="prune the model again, or remove the file to use the checkpoint without it") from e

    def write(self, folder: Path) -> None:
        (folder / RECORD).write_text(json.dumps(self.to_dict(), indent=1))


@dataclass(frozen=True)
class PrunedCheckpoint:
    """A checkpoint `edgeslm prune` wrote, and how it was cut from its source."""

    checkpoint: CheckpointDir
    record: PruneRecord


def open_student(path: Path) -> CheckpointDir | PrunedCheckpoint:
    """A student checkpoint: a PrunedCheckpoint when edgeslm pruned it (its record says which
    layers and channels of the teacher it kept), else the plain checkpoint. Raises ModelLoadError."""
    ckpt = open_checkpoint(path)
    record = PruneRecord.read(ckpt.path)
    return PrunedCheckpoint(ckpt, record) if record is not None else ckpt
