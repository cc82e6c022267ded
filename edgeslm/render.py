"""Text for people: every table the CLI prints, from the typed values the stages return.

The CLI calls a stage, then one function here; JSON for machines comes from
the same values' ``to_dict``. Verification tables live in verify/report.py,
beside the report they render, and are re-exported here.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Iterable

from edgeslm.verify.report import render_failures, render_gates, render_markdown, render_summary

if TYPE_CHECKING:
    from edgeslm.distill import DistilledCheckpoint
    from edgeslm.prune.plan import PrunePlan
    from edgeslm.prune.record import PrunedCheckpoint
    from edgeslm.models.spec import ModelSpec
    from edgeslm.run import RunResult, StagePlan
    from edgeslm.targets import Target

__all__ = ["checkpoint_summary", "distill_table", "plan_search", "prune_plan", "prune_result", "run_plan", "run_result", "target_detail",
           "targets_table", "render_failures", "render_gates", "render_markdown", "render_summary"]


def checkpoint_summary(d: dict[str, Any], model: str) -> str:
    """`edgeslm inspect`: architecture, parameters per part, size per quant type and fit."""
    a = d["architecture"]
    lines = [
        f"{model}  ({a['arch']}, family {a['family']})",
        f"  layers {a['num_layers']}  hidden {a['hidden_size']}  ffn {a['intermediate_size']}  "
        f"heads {a['num_heads']} (kv {a['num_kv_heads']}, head_dim {a['head_dim']})  vocab {a['vocab_size']}",
        f"  context {a['max_position_embeddings']}  rope_theta {a['rope_theta']:g}  "
        f"tied embeddings {'yes' if a['tie_word_embeddings'] else 'no'}",
        "",
        "parameters",
    ]
    total = d["params"]["total"]
    for part, n in d["params"].items():
        if part != "total":
            note = " (tied to embeddings)" if part == "head" and a["tie_word_embeddings"] else ""
            lines.append(f"  {part:<11}{n:>14,}  {n / total:6.1%}{note}")
    lines += [f"  {'total':<11}{total:>14,}", "",
              "export formats and quant types (sizes are estimates; K-quant mixes run ~5-10% larger)",
              f"  {'format':<7}{'quant':<8}{'~MiB':>9}  fit"]
    from edgeslm.formats import all_formats

    for r in (r for f in all_formats() for r in d.get(f, [])):
        fit = "fits" if not r["fallbacks"] else "fallback: " + ", ".join(
            f"{n} tensors -> {t}" for t, n in r["fallbacks"].items()) + " (rows not a multiple of the block size)"
        lines.append(f"  {r['format']:<7}{r['quant']:<8}{r['est_mib']:>9.1f}  {fit}")
    return "\n".join(lines)


def targets_table(targets: Iterable[Target]) -> str:
    """`edgeslm targets list`."""
    lines = [f"{'name':<12}{'arch':<9}{'threads':>8}{'RAM MiB':>9}{'GB/s':>7}  artifacts"]
    for t in targets:
        arts = ", ".join(a.label for a in t.artifacts)
        lines.append(f"{t.name:<12}{t.arch:<9}{t.threads:>8}{t.ram_budget_mib:>9.0f}{t.memory_bandwidth_gbps:>7.1f}  {arts}")
    return "\n".join(lines)


def target_detail(t: Target) -> str:
    """`edgeslm targets show NAME`."""
    lines = [f"{t.name}: {t.description}\n  source {t.source}",
             f"  arch {t.arch}   ISA {', '.join(t.isa) or '-'}   threads {t.threads}",
             f"  budgets: RAM {t.ram_budget_mib:.0f} MiB, storage {t.storage_budget_mib:.0f} MiB",
             f"  memory bandwidth {t.memory_bandwidth_gbps:g} GB/s (roofline decode = bandwidth / bytes per token)",
             "", "artifacts"]
    lines += [f"  {a.label:<14}{a.why}" for a in t.artifacts]
    lines.append("\ngates" + "".join(f"\n  {f.name:<18}{getattr(t.gates, f.name)}" for f in fields(t.gates)))
    for a in t.artifacts:
        over = {f.name: getattr(a.gates, f.name) for f in fields(a.gates) if getattr(a.gates, f.name) is not None}
        if over:
            lines.append(f"  {a.label} overrides: " + ", ".join(f"{k}={v}" for k, v in over.items()))
    return "\n".join(lines)


def prune_plan(spec: ModelSpec, plan: PrunePlan) -> str:
    """`edgeslm prune`: sizes and parameters per part before and after, and the planner's notes."""
    from edgeslm.prune.report import plan_rows

    rows = plan_rows(spec, plan)
    w = max(len(r[0]) for r in rows)
    lines = [f"{'':<{w}}  {'before':>14}  {'after':>14}"]
    lines += [f"{name:<{w}}  {a:>14}  {b:>14}" for name, a, b in rows]
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines)


def plan_search(found: dict[str, Any]) -> str:
    """`edgeslm prune --target-params`: the candidates best first (PlanSearch.to_dict()), with their KL."""
    cands = found["candidates"]
    distilled = found["search_steps"] > 0
    m = found["measured_on"]
    lines = [f"architectures at {found['budget']:,} parameters, ranked by "
             + (f"KL after {found['search_steps']} distillation steps (then one-shot KL)" if distilled else "one-shot KL")
             + f" to the source on {m['windows']} calibration windows ({m['tokens']:,} tokens)",
             f"{'rank':>4}  {'layers':>6}{'hidden':>7}{'ffn':>7}{'heads':>7}{'params':>12}  {'kind':<6}{'one-shot KL':>12}"
             + (f"{'distilled KL':>14}" if distilled else "") + "  note"]
    for i, c in enumerate(cands, 1):
        dk = f"{c['distilled_kl']:>14.4f}" if c["distilled_kl"] is not None else f"{'-':>14}"
        note = "chosen" if i == 1 else ""
        note = ", ".join(x for x in (note, c["baseline"]) if x)
        lines.append(f"{i:>4}  {c['layers']:>6}{c['hidden']:>7}{c['ffn']:>7}{str(c['heads']) + '/' + str(c['kv_heads']):>7}"
                     f"{c['params']:>12,}  {c['kind']:<6}{c['one_shot_kl']:>12.4f}" + (dk if distilled else "") + f"  {note}")
    return "\n".join(lines)


def prune_result(pruned: PrunedCheckpoint) -> str:
    """Perplexity and KL against the source, per part pruned and all together."""
    rec = pruned.record
    lines = [f"{'pruned part':<12}{'ppl source':>12}{'ppl pruned':>12}{'mean KL':>10}"]
    lines += [f"{part:<12}{r['ppl_source']:>12.3f}{r['ppl_pruned']:>12.3f}{r['mean_kl']:>10.4f}"
              for part, r in rec.report.items()]
    if rec.rounds:
        lines.append(f"\n{'round':>5}{'params':>13}  {'layers':>6}{'hidden':>7}{'ffn':>7}{'KL cut':>10}{'KL distilled':>14}")
        for r in rec.rounds:
            p, after = r["plan"], r.get("kl_to_source_after")
            lines.append(f"{r['round']:>5}{r['params']:>13,}  {p['num_layers']:>6}{p['hidden_size']:>7}{p['ffn_dim']:>7}"
                         f"{r['kl_to_source']:>10.4f}" + (f"{after:>14.4f}" if after is not None else f"{'-':>14}"))
    lines.append(f"\nwrote {pruned.checkpoint.path} ({rec.params['after']:,} parameters, {rec.kept_fraction:.0%} of the source)")
    return "\n".join(lines)


def distill_table(d: DistilledCheckpoint) -> str:
    """Held-out KL, perplexity, top-1 agreement and next-token accuracy at every evaluation."""
    res = d.curves
    lines = [f"{'step':>6}{'train loss':>12}{'KL to teacher':>15}{'ppl':>9}{'top-1 agree':>13}{'next-token acc':>16}"]
    for e in res.evals:
        loss = res.loss[res.steps.index(e["step"])] if e["step"] in res.steps else float("nan")
        lines.append(f"{e['step']:>6}{loss:>12.4f}{e['kl']:>15.4f}{e['ppl']:>9.2f}{e['top1']:>13.1%}{e['acc']:>16.1%}")
    last = res.evals[-1]
    lines.append(f"\nwrote {d.checkpoint.path} (final held-out KL {last['kl']:.4f}, ppl {last['ppl']:.2f}; "
                 f"{res.tokens_per_s:,.0f} training tokens/s)")
    return "\n".join(lines)


def run_plan(plans: Iterable[StagePlan]) -> str:
    """`edgeslm run --dry-run`: each stage, its key, and whether it would run, resume or be reused."""
    lines = [f"{'stage':<24}{'key':<14}{'action':<8}folder"]
    lines += [f"{p.stage:<24}{p.key:<14}{p.action:<8}{p.folder}" for p in plans]
    return "\n".join(lines)


def run_result(res: RunResult, changelog: bool = False) -> str:
    """`edgeslm run`: the stages with their time, then every target's artifacts with their verdict."""
    lines = [f"{'stage':<24}{'key':<14}{'':<8}{'seconds':>8}"]
    lines += [f"{s.stage:<24}{s.key:<14}{'reused' if s.reused else 'ran':<8}{s.seconds:>8.1f}" for s in res.stages]
    lines.append(f"\n{'target':<12}{'artifact':<22}{'mean KL':>10}{'top-1':>8}{'decode t/s':>12}  result")
    for a in res.artifacts:
        acc = a.get("accuracy") or {}
        kl = f"{acc['mean_kl']:.3g}" if acc else "-"
        top1 = f"{acc['top1_agreement']:.1%}" if acc else "-"
        tps = f"{a['decode_tps']:.0f}" if a.get("decode_tps") else "-"
        verdict = "PASS" if a["passed"] else ("FAIL" if a["required"] else "FAIL (optional)") + (
            ": " + a["failure"] if a.get("failure") else "")
        lines.append(f"{a['target']:<12}{a['format'] + ':' + a['quant']:<22}{kl:>10}{top1:>8}{tps:>12}  {verdict}")
    lines.append(f"\nrun folder {res.out_dir}: manifest.json, report.md, stages/" + (", CHANGELOG.md" if changelog else ""))
    return "\n".join(lines)
