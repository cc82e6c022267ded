"""A compression changelog: what changed between two runs' manifests, per stage and per artifact.

    text = changelog(read_run_manifest(old), read_run_manifest(new))

Stages are matched by name (prune, distill, build:TARGET) and artifacts by
target, format and quant. Each line says what changed: a stage's settings
and its output, an artifact's size, accuracy, speed and verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeslm.errors import UsageError


def read_run_manifest(path: Path) -> dict:
    """A run's manifest.json (or the run folder holding it). Raises UsageError for anything else."""
    from edgeslm.run import RUN_MANIFEST, RUN_SCHEMA

    p = path / RUN_MANIFEST if path.is_dir() else path
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--baseline {path}: cannot read a run manifest: {e}",
                         hint="give the manifest.json of an earlier `edgeslm run`, or its folder") from e
    if not isinstance(d, dict) or d.get("schema") != RUN_SCHEMA:
        raise UsageError(f"--baseline {path}: not an `edgeslm run` manifest (schema {RUN_SCHEMA}).")
    return d


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def _delta(old: float | None, new: float | None, fmt: str, better: str) -> str:
    if old is None or new is None:
        return "-" if new is None else fmt.format(new)
    d = new - old
    sign = "+" if d >= 0 else ""
    good = (d < 0) if better == "lower" else (d > 0)
    mark = "" if abs(d) <= 1e-12 else (" (better)" if good else " (worse)")
    return f"{fmt.format(new)} ({sign}{fmt.format(d)}){mark}"


def changelog(old: dict, new: dict) -> str:
    """Markdown: the stages whose settings or outputs changed, then every artifact's deltas."""
    lines = [f"# Compression changelog: {new['recipe']['name']}", "",
             f"Against {old['recipe']['source']} ({old['created']}, recipe {old['recipe']['sha256'][:12]}) "
             f"-> {new['recipe']['source']} ({new['created']}, recipe {new['recipe']['sha256'][:12]}).", "",
             "## Stages", ""]
    old_stages = {s["stage"]: s for s in old["stages"]}
    old_recipe, new_recipe = _flat(old["recipe"]), _flat(new["recipe"])
    for s in new["stages"]:
        o = old_stages.get(s["stage"])
        if o is None:
            lines.append(f"- **{s['stage']}**: new in this release")
            continue
        section = s["stage"].split(":")[0]
        changed = sorted(k for k in new_recipe if k.startswith(f"{section}.") and new_recipe.get(k) != old_recipe.get(k))
        what = ", ".join(f"`{k}` {old_recipe.get(k)!r} -> {new_recipe[k]!r}" for k in changed)
        if o["key"] == s["key"]:
            lines.append(f"- **{s['stage']}**: unchanged (key {s['key']})")
        else:
            out_same = o["outputs"] == s["outputs"]
            lines.append(f"- **{s['stage']}**: key {o['key']} -> {s['key']}"
                         + (f"; settings: {what}" if what else "; an input before it changed")
                         + ("; same output" if out_same else "; new output"))
    for name in old_stages.keys() - {s["stage"] for s in new["stages"]}:
        lines.append(f"- **{name}**: removed")

    lines += ["", "## Artifacts", "",
              "| target | artifact | MiB | mean KL | top-1 | ppl ratio | decode t/s | verdict |",
              "|---|---|---|---|---|---|---|---|"]
    ident = lambda a: (a["target"], a["format"], a["quant"])  # noqa: E731
    old_art = {ident(a): a for a in old["artifacts"]}
    for a in new["artifacts"]:
        o = old_art.get(ident(a), {})
        acc, oacc = a.get("accuracy") or {}, o.get("accuracy") or {}
        mib = lambda x: x.get("bytes", 0) / (1 << 20) if x.get("bytes") else None  # noqa: E731
        verdict = ("PASS" if a["passed"] else "FAIL") + ("" if not o else
                                                          "" if o.get("passed") == a["passed"] else
                                                          f" (was {'PASS' if o.get('passed') else 'FAIL'})")
        lines.append("| " + " | ".join([
            a["target"], f"{a['format']}:{a['quant']}" + ("" if o else " (new)"),
            _delta(mib(o), mib(a), "{:.2f}", "lower"),
            _delta(oacc.get("mean_kl"), acc.get("mean_kl"), "{:.4g}", "lower"),
            _delta(oacc.get("top1_agreement"), acc.get("top1_agreement"), "{:.3f}", "higher"),
            _delta(oacc.get("ppl_ratio"), acc.get("ppl_ratio"), "{:.4f}", "lower"),
            _delta(o.get("decode_tps"), a.get("decode_tps"), "{:.0f}", "higher"),
            verdict]) + " |")
    for key in old_art.keys() - {ident(a) for a in new["artifacts"]}:
        lines.append(f"| {key[0]} | {key[1]}:{key[2]} (removed) | | | | | | |")
    return "\n".join(lines) + "\n"
