"""`edgeslm run RECIPE`: teacher -> pruned -> distilled student -> verified artifacts per target, cached by stage.

    result = run_recipe(load_recipe("examples/recipes/quickstart.toml"))

Layout of the run folder (the recipe's ``output``):

    stages/prune-<key>/           the pruned checkpoint, prune_record.json, stage.json
    stages/distill-<key>/         the distilled student, distill.json, loss.png, run/ (checkpoints), stage.json
    stages/build-<target>-<key>/  artifacts, report.*, manifest.json, logs/, stage.json
    manifest.json                 the run: recipe, every stage, every artifact with its files' sha256 and verdict
    report.md                     every target's table

A stage's key hashes its configuration, the key of the stage before it (or
the teacher's sha256), the data's sha256 and the versions that decide its
bytes, so keys are known before anything runs (``--dry-run``). A stage folder
with stage.json is complete and is reused; one without it is a stage that
was interrupted: distill resumes from its last checkpoint, the others start
again. ``force`` redoes a stage and every stage after it.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from edgeslm import __version__
from edgeslm.data import TextSet
from edgeslm.errors import RecipeError
from edgeslm.manifest import environment, file_sha256, write_json, write_text
from edgeslm.models.loader import CheckpointDir, open_checkpoint
from edgeslm.outputs import STAGE_FILE, read_stage_record, write_stage_record
from edgeslm.prune.record import PrunedCheckpoint, open_student
from edgeslm.build import REPORT_HTML
from edgeslm.doctor import cpu_model
from edgeslm.recipe import NAMED_DATA, Recipe, stage_key
from edgeslm.report_html import ReportPage, render_html
from edgeslm.util import path_size

RUN_MANIFEST = "manifest.json"
RUN_SCHEMA = "edgeslm.run/1"
CHANGELOG = "CHANGELOG.md"  # with --baseline: deltas against an earlier run
STAGES = ("prune", "distill", "build")


@dataclass(frozen=True)
class StageRecord:
    stage: str  # "prune", "distill", "build:host"
    key: str
    folder: Path
    reused: bool
    seconds: float
    inputs: dict  # name -> sha256 or key
    outputs: dict  # file -> sha256, from the stage's stage.json
    checkpoint_sha256: str = ""  # prune and distill: the student they made

    def to_dict(self) -> dict:
        d = asdict(self)
        d["folder"] = str(self.folder)
        return d


@dataclass(frozen=True)
class StagePlan:
    stage: str
    key: str
    folder: Path
    action: str  # "reuse", "resume", "run"


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    stages: tuple[StageRecord, ...]
    artifacts: tuple[dict, ...]  # manifest entries: target, file, format, quant, sha256, files, passed, ...

    @property
    def passed(self) -> bool:
        """Every required artifact of every target verified: the release may ship."""
        return all(a["passed"] or not a["required"] for a in self.artifacts)


def _texts(recipe: Recipe) -> dict[str, TextSet]:
    """Each data role's text. stdlib means its train split for calibration and training, its test split for eval."""
    from edgeslm.data import named_or_path

    base = recipe.source.parent
    return {role: named_or_path(getattr(recipe.data, role), split, base)
            for role, split in (("calibration", "train"), ("train", "train"), ("eval", "test"))}


def _versions() -> dict:
    env = environment()
    return {k: v for k, v in env.items() if k not in ("platform",)}


def plan_stages(recipe: Recipe, teacher: CheckpointDir, texts: dict[str, TextSet]) -> list[StagePlan]:
    """Every stage with its key and folder, and whether it would be reused, resumed or run."""
    stages = recipe.output / "stages"
    versions = _versions()
    plans, prev = [], teacher.sha256
    if recipe.prune:
        key = stage_key("prune", asdict(recipe.prune), prev, texts["calibration"].sha256, texts["eval"].sha256, versions)
        plans.append(StagePlan("prune", key, stages / f"prune-{key}", ""))
        prev = key
    if recipe.distill:
        key = stage_key("distill", asdict(recipe.distill), prev, teacher.sha256, texts["train"].sha256,
                        texts["eval"].sha256, versions)
        plans.append(StagePlan("distill", key, stages / f"distill-{key}", ""))
        prev = key
    for t in recipe.targets:
        target = t.effective
        key = stage_key("build", _target_identity(target), prev, texts["eval"].sha256, versions)
        plans.append(StagePlan(f"build:{target.name}", key, stages / f"build-{target.name}-{key}", ""))
    return [replace(p, action=_action(p)) for p in plans]


def _target_identity(target) -> dict:
    """What decides a build's artifacts and verdicts. Not the memory bandwidth: `host` measures it anew at every
    load (it varies run to run) and it only feeds the roofline estimate printed beside the measurements."""
    d = asdict(target)
    for k in ("source", "memory_bandwidth_gbps"):
        d.pop(k, None)
    # where it is measured decides verdicts; how it is reached (a key's path) is no one's business
    d["device"] = target.device.public() if target.device else None
    return d


def _action(p: StagePlan) -> str:
    if (p.folder / STAGE_FILE).is_file():
        return "reuse"
    if p.stage == "distill" and (p.folder / "run").is_dir():
        return "resume"
    return "run"


def run_recipe(recipe: Recipe, *, force: str | None = None, dry_run: bool = False, baseline: Path | None = None,
               progress: Callable[[str], None] = lambda _: None, on_step=None) -> RunResult | list[StagePlan]:
    """Run (or with ``dry_run``, only plan) the recipe. ``force``: a stage name whose folder, and every later
    stage's, is redone. ``baseline``: an earlier run's manifest; CHANGELOG.md then gives every stage's and
    artifact's deltas against it. Returns the RunResult, or the plan for a dry run.

    Raises RecipeError, OutputPathError, UsageError (a bad baseline), and what the stages raise.
    """
    from edgeslm.changelog import changelog, read_run_manifest
    from edgeslm.outputs import check_output

    old = read_run_manifest(baseline) if baseline is not None else None  # refused before any work
    if force is not None and force not in STAGES and not force.startswith("build:"):
        raise RecipeError(f"--force {force!r}: not a stage; stages are {', '.join(STAGES)} (or build:TARGET).")
    out = recipe.output
    if not dry_run and not _is_run_folder(out):
        out.parent.mkdir(parents=True, exist_ok=True)  # the recipe names the folder: its parents are made
        check_output(out, folder=True, inputs=[recipe.teacher])  # a run folder is created, never taken over
    teacher = open_checkpoint(recipe.teacher)
    texts = _texts(recipe)
    plans = plan_stages(recipe, teacher, texts)
    if force is not None:
        names = [p.stage for p in plans]
        matches = [i for i, n in enumerate(names) if n == force or n.split(":")[0] == force]
        if not matches:
            raise RecipeError(f"--force {force!r}: this recipe has no such stage; it has {', '.join(names)}.")
        plans = [replace(p, action="run") if i >= matches[0] else p for i, p in enumerate(plans)]
    if dry_run:
        return plans

    (out / "stages").mkdir(parents=True, exist_ok=True)
    for stale in (out / "stages").glob(".*"):  # what a killed stage writer left beside its folder
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    records: list[StageRecord] = []
    current = teacher
    artifacts: list[dict] = []
    reports_md: list[str] = []
    on_devices: dict[int, Future] = {}  # builds measured on a device run side by side, a few at a time
    with ThreadPoolExecutor(max_workers=DEVICE_JOBS, thread_name_prefix="edgeslm-device") as pool:
        for i, plan in enumerate(plans):
            if plan.action == "run" and plan.folder.exists():
                shutil.rmtree(plan.folder)  # an interrupted or forced stage starts again
            stage = plan.stage.split(":")[0]
            progress(f"stage {plan.stage} ({plan.key}): {'reused' if plan.action == 'reuse' else plan.action}")
            if stage == "prune":
                rec = _prune(plan, recipe, current, texts, progress)
            elif stage == "distill":
                rec = _distill(plan, recipe, teacher, current, texts, progress, on_step)
            elif _on_a_device(recipe, plan) and plan.action != "reuse":
                on_devices[i] = pool.submit(_build, plan, recipe, current, texts, progress)
                continue
            else:
                rec = _build(plan, recipe, current, texts, progress)
            records.append(rec)
            if stage in ("prune", "distill"):
                current = open_student(plan.folder)  # a pruned student keeps its record for the stages after it
        device_records = {i: f.result() for i, f in on_devices.items()}
    # in the recipe's order, whichever finished first
    records = [device_records[i] if i in device_records else records.pop(0) for i in range(len(plans))]
    for plan in plans:
        if plan.stage.startswith("build:"):
            artifacts += _artifact_entries(plan, out)
            reports_md.append((plan.folder / "report.md").read_text())
    _write_run(recipe, teacher, texts, records, artifacts, reports_md)
    if old is not None:
        write_text(out / CHANGELOG, changelog(old, json.loads((out / RUN_MANIFEST).read_text())))
    return RunResult(out, tuple(records), tuple(artifacts))


def _is_run_folder(out: Path) -> bool:
    """Whether ``out`` is an earlier run of a recipe (its stages are reused), not something else to refuse."""
    try:
        return json.loads((out / RUN_MANIFEST).read_text()).get("schema") == RUN_SCHEMA
    except (OSError, ValueError):
        return (out / "stages").is_dir() and not any(p for p in out.iterdir() if p.name not in ("stages", RUN_MANIFEST))


def _record(plan: StagePlan, seconds: float | None = None) -> StageRecord:
    """The StageRecord of a finished stage, from the stage.json its writer left; ``seconds``: this run's."""
    d = read_stage_record(plan.folder)
    if d is None:
        raise RecipeError(f"stage {plan.stage} finished without its {STAGE_FILE} in {plan.folder}.")
    ckpt = open_checkpoint(plan.folder).sha256 if plan.stage in ("prune", "distill") else ""
    return StageRecord(plan.stage, plan.key, plan.folder, seconds is None, d["seconds"] if seconds is None else seconds,
                       d["inputs"], d["outputs"], ckpt)


def _prune(plan, recipe, source, texts, progress) -> StageRecord:
    if plan.action == "reuse":
        return _record(plan)
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint

    p = recipe.prune
    t0 = time.perf_counter()
    req = PruneRequest(drop_layers=p.drop_layers, layers=p.layers, ffn_dim=p.ffn_dim, num_heads=p.num_heads,
                       num_kv_heads=p.num_kv_heads, hidden_size=p.hidden_size, target_params=p.target_params,
                       round_to=p.round_to)
    prune_checkpoint(_checkpoint(source), plan.folder, req, texts["calibration"], texts["eval"],
                     calib_samples=p.calib_samples, seq_len=p.seq_len, layer_metric=p.layer_metric,
                     random_seed=p.random_seed, search_steps=p.search_steps, rounds=p.rounds, round_steps=p.round_steps,
                     progress=progress)
    return _record(plan, time.perf_counter() - t0)


def _distill(plan, recipe, teacher, student, texts, progress, on_step) -> StageRecord:
    if plan.action == "reuse":
        return _record(plan)
    from edgeslm.distill import DistillConfig, distill_checkpoints
    from edgeslm.distill.generate import GenerateConfig, jsonl_prompts
    from edgeslm.distill.hidden import plan_hidden_match
    from edgeslm.distill.losses import KDConfig
    from edgeslm.train.loop import TrainConfig

    d = recipe.distill
    t0 = time.perf_counter()
    hidden = (plan_hidden_match(student, teacher.spec, d.hidden_weight, d.hidden_loss, d.layer_map)
              if d.hidden_weight > 0 else None)
    cfg = DistillConfig(KDConfig(d.loss, d.temperature, d.beta), d.kd_weight, hidden, d.top_k)
    tcfg = TrainConfig(max_steps=d.max_steps, batch_size=d.batch_size, seq_len=d.seq_len, grad_accum=d.grad_accum, lr=d.lr,
                       warmup_steps=max(1, d.max_steps // 10), seed=d.seed, ckpt_every=d.ckpt_every,
                       eval_every=d.eval_every, bf16=d.bf16)
    gen = GenerateConfig(d.num_prompts, d.prompt_tokens, d.max_new_tokens, d.gen_temperature, d.seed) if d.generate else None
    train_path = recipe.source.parent / recipe.data.train
    prompts = jsonl_prompts(train_path) if gen and recipe.data.train not in NAMED_DATA else None
    distill_checkpoints(teacher, student, plan.folder, texts["train"], texts["eval"], cfg, tcfg,
                        cache_dir=_teacher_cache(plan, recipe, teacher, texts) if d.cache_teacher else None,
                        generate=gen, prompts=prompts, resume=plan.action == "resume", progress=progress,
                        on_step=on_step)
    return _record(plan, time.perf_counter() - t0)


def _teacher_cache(plan: StagePlan, recipe: Recipe, teacher: CheckpointDir, texts: dict[str, TextSet]) -> Path:
    """The teacher cache's folder beside the stages: keyed by what its logits depend on and nothing of the
    student's, so a re-run distill (other steps, lr, student) reads the same cache. The cache checks its
    own identity when opened, so a key collision cannot feed it the wrong teacher."""
    d = recipe.distill
    written = (d.num_prompts, d.prompt_tokens, d.max_new_tokens, d.gen_temperature, d.seed) if d.generate else None
    key = stage_key("teacher-cache", teacher.sha256, texts["train"].sha256, texts["eval"].sha256, d.seq_len, d.top_k,
                    d.temperature, written, _versions())
    return plan.folder.parent / f"teacher-cache-{key}"


DEVICE_JOBS = 4  # builds verified on devices at the same time


def _on_a_device(recipe: Recipe, plan: StagePlan) -> bool:
    """A build stage whose target is measured on a device elsewhere (ssh, adb): this machine only exports."""
    name = plan.stage.split(":", 1)[1]
    device = next(t.effective for t in recipe.targets if t.target.name == name).device
    return device is not None and device.kind != "local"


def _build(plan, recipe, source, texts, progress) -> StageRecord:
    if plan.action == "reuse":
        return _record(plan)
    from edgeslm.build import build

    name = plan.stage.split(":", 1)[1]
    target = next(t.effective for t in recipe.targets if t.target.name == name)
    t0 = time.perf_counter()
    source = _checkpoint(source)
    build(source, target, plan.folder, texts["eval"], overwrite=True, recipe_sha256=recipe.sha256,
          progress=lambda m: progress(f"{plan.stage}: {m}"))
    # a build writes its artifacts in place, one by one as each verifies; its record comes last
    write_stage_record(plan.folder, plan.stage, _target_identity(target),
                       {"source": source.sha256, "eval": texts["eval"].sha256, "recipe": recipe.sha256},
                       time.perf_counter() - t0, skip=())
    return _record(plan, time.perf_counter() - t0)


def _checkpoint(c: CheckpointDir | PrunedCheckpoint) -> CheckpointDir:
    return c.checkpoint if isinstance(c, PrunedCheckpoint) else c


def _files(path: Path) -> dict[str, str]:
    """sha256 of every file of an artifact, by its path inside it ('' for a single-file artifact)."""
    if path.is_file():
        return {"": file_sha256(path)}
    return {f.relative_to(path).as_posix(): file_sha256(f) for f in sorted(path.rglob("*")) if f.is_file()}


def _artifact_entries(plan: StagePlan, out: Path) -> list[dict]:
    report = json.loads((plan.folder / "report.json").read_text())
    entries = []
    for r in report["artifacts"]:
        path = Path(r["artifact"])
        if not path.exists():
            path = plan.folder / path.name
        entry = {"target": report["target"], "file": path.relative_to(out).as_posix() if path.exists() else path.name,
                 "format": r["format"], "quant": r["quant"], "passed": r["passed"], "required": r.get("required", True),
                 "failure": r.get("failure"),
                 "reference_sha256": r["reference"].get("sha256")}
        if path.exists():
            entry.update(sha256=file_sha256(path), files=_files(path), bytes=path_size(path))
        if r.get("accuracy"):
            entry["accuracy"] = {k: r["accuracy"][k] for k in ("mean_kl", "top1_agreement", "ppl_ratio")}
        if r.get("speed"):
            entry["decode_tps"] = r["speed"]["decode_tps"]
        entry["gates"] = r["gates"]
        entries.append(entry)
    return entries


def _write_run(recipe, teacher, texts, records, artifacts, reports_md) -> None:
    out = recipe.output
    chain = {"teacher": {"name": teacher.name, "sha256": teacher.sha256}}
    for r in records:
        if r.stage in ("prune", "distill"):
            chain[r.stage] = {"key": r.key, "sha256": r.checkpoint_sha256}
    write_json(out / RUN_MANIFEST, {
        "schema": RUN_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgeslm": __version__,
        "recipe": {**recipe.to_dict(), "source": str(recipe.source)},
        "data": {role: {"source": t.source, "sha256": t.sha256} for role, t in texts.items()},
        "lineage": chain,
        "stages": [r.to_dict() for r in records],
        "artifacts": artifacts,
        "passed": all(a["passed"] or not a["required"] for a in artifacts),
        "environment": environment(),
    })
    write_text(out / "report.md", f"# edgeslm run: {recipe.name}\n\n" + "\n".join(reports_md))
    write_text(out / REPORT_HTML, render_html(_page(recipe, teacher, records, artifacts)))


def _page(recipe, teacher, records, artifacts) -> ReportPage:
    """report.html's content: every build stage's reports, the prune record, the distill curves, the lineage."""
    from edgeslm.models.provenance import DISTILL_RECORD
    from edgeslm.prune.record import RECORD as PRUNE_RECORD

    def stage_file(stage: str, name: str) -> dict | None:
        folder = next((r.folder for r in records if r.stage == stage), None)
        return json.loads((folder / name).read_text()) if folder and (folder / name).is_file() else None

    targets = {}
    for r in records:
        if r.stage.startswith("build:"):
            report = json.loads((r.folder / "report.json").read_text())
            targets[report["target"]] = report["artifacts"]
    lineage = [("teacher", f"{teacher.name} {teacher.sha256}")]
    lineage += [(f"{r.stage} student", r.checkpoint_sha256) for r in records if r.checkpoint_sha256]
    lineage += [("recipe", f"{recipe.source.name} {recipe.sha256}")]
    lineage += [(f"{a['target']} {a['format']}:{a['quant']}", f"{a['file']} {a.get('sha256', '-')}") for a in artifacts]
    distill = stage_file("distill", DISTILL_RECORD)
    kd = (distill or {}).get("recipe", {}).get("kd_weight")
    return ReportPage(
        title=f"edgeslm run: {recipe.name}",
        targets=targets,
        prune=stage_file("prune", PRUNE_RECORD),
        distill=[(f"distilled (kd_weight {kd})", distill)] if distill else [],
        lineage=lineage,
        environment={**environment(), "cpu": cpu_model()},
        notes=[f"recipe {recipe.source}; teacher {teacher.name}; every number below was measured in the artifact's "
               "own runtime against the student it was exported from."],
    )
