"""report.html: one self-contained page for the person who decides whether a release ships.

    html = render_html(ReportPage(title, targets={"host": [report_dict, ...]}, prune=record, distill=record, ...))

No network: charts are inline SVG drawn by matplotlib, styles are inline.
Sections: per target, every artifact with a pass/fail badge per gate; a
Pareto chart of file size against KL with decode tokens/s as colour and the
non-dominated artifacts marked; the distillation curves; pruning importance
per layer and the cost of each part pruned; the lineage; and where every
number was measured. Each chart is a <figure class="chart" data-chart=NAME>
so a browser test can check that every one rendered with content.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from typing import Any

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1150px;color:#1b1f24}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
th{background:#f6f8fa} td.l,th.l{text-align:left}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;margin:1px;color:#fff;white-space:nowrap}
.pass{background:#1a7f37} .fail{background:#cf222e} .opt{background:#9a6700} .na{background:#6e7781}
.verdict{font-weight:600} figure.chart{margin:8px 0 20px} figure.chart svg{max-width:100%;height:auto}
code{background:#f6f8fa;padding:1px 4px;border-radius:4px;font-size:12px} .muted{color:#57606a}
"""


@dataclass(frozen=True)
class ReportPage:
    title: str
    targets: dict[str, list[dict]]  # target name -> VerifyReport.to_dict() of each artifact
    prune: dict | None = None  # prune_record.json
    distill: list[tuple[str, dict]] = field(default_factory=list)  # (label, distill.json): KD beside CE when both ran
    lineage: list[tuple[str, str]] = field(default_factory=list)  # (what, identity) from the teacher to the artifacts
    environment: dict[str, str] = field(default_factory=dict)  # package versions, platform
    notes: list[str] = field(default_factory=list)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # no timestamp in the page
    _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inline


def _chart(name: str, caption: str, svg: str) -> str:
    return (f'<figure class="chart" data-chart="{name}">{svg}'
            f'<figcaption class="muted">{html.escape(caption)}</figcaption></figure>')


def pareto_front(points: list[tuple[float, float, float]]) -> list[bool]:
    """Which (size MiB, KL, decode tokens/s) points no other point beats: no larger, no worse KL,
    no slower, and better in one."""
    def beats(a, b):
        return a[0] <= b[0] and a[1] <= b[1] and a[2] >= b[2] and a != b

    return [not any(beats(q, p) for q in points) for p in points]


def _pareto_svg(target: str, rows: list[dict]) -> str | None:
    pts = [(r["file_mib"], r["accuracy"]["mean_kl"], r["speed"]["decode_tps"], f"{r['format']}:{r['quant']}")
           for r in rows if r.get("accuracy") and r.get("speed")]
    if not pts:
        return None
    plt = _pyplot()
    front = pareto_front([p[:3] for p in pts])
    fig, ax = plt.subplots(figsize=(8.5, 4.6), dpi=100)
    sc = ax.scatter([p[0] for p in pts], [max(p[1], 1e-7) for p in pts], c=[p[2] for p in pts], cmap="viridis", s=90,
                    edgecolors=["#cf222e" if f else "none" for f in front], linewidths=2.2, zorder=3)
    for (x, y, _, label), f in zip(pts, front):
        ax.annotate(label + (" *" if f else ""), (x, max(y, 1e-7)), textcoords="offset points", xytext=(7, 5), fontsize=9)
    frontier = sorted((p[0], max(p[1], 1e-7)) for p, f in zip(pts, front) if f)
    if len(frontier) > 1:
        ax.step([p[0] for p in frontier], [p[1] for p in frontier], where="post", color="#cf222e", lw=1, alpha=0.6,
                zorder=2, label="Pareto frontier (size, KL, speed)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=9, frameon=False)
    ax.set_yscale("log")
    ys = [max(p[1], 1e-7) for p in pts]
    xs = [p[0] for p in pts]
    ax.set_ylim(min(ys) / 2, max(ys) * 2)  # room for the labels above and below the extremes
    span = (max(xs) - min(xs)) or max(xs) or 1.0
    ax.set_xlim(min(xs) - 0.08 * span, max(xs) + 0.25 * span)
    ax.set_xlabel("file size, MiB")
    ax.set_ylabel("mean KL(reference || artifact), nats/token")
    ax.set_title(f"{target}: size against accuracy, colour = decode tokens/s (* = on the frontier)")
    fig.colorbar(sc, ax=ax, label="decode tokens/s")
    ax.grid(alpha=0.3, which="both")
    return _svg(fig)


def _distill_svg(runs: list[tuple[str, dict]]) -> str | None:
    runs = [(label, rec["result"]["evals"]) for label, rec in runs if rec.get("result", {}).get("evals")]
    if not runs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), dpi=100)
    for (key, ylabel), ax in zip((("kl", "held-out KL to the teacher"), ("ppl", "held-out perplexity"),
                                  ("top1", "top-1 agreement with the teacher")), axes):
        for label, evals in runs:
            ax.plot([e["step"] for e in evals], [e[key] for e in evals], "o-", ms=3, label=label)
        ax.set_xlabel("step")
        ax.set_title(ylabel, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def _prune_svg(record: dict) -> str | None:
    layers = record.get("importance", {}).get("layers") or []
    parts = {k: v for k, v in record.get("report", {}).items()}
    if not layers and not parts:
        return None
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4), dpi=100)
    kept = set(record.get("kept", {}).get("layers", []))
    a.bar(range(len(layers)), layers, color=["#1a7f37" if i in kept else "#cf222e" for i in range(len(layers))])
    a.set_xticks(range(len(layers)))
    a.set_xlabel("layer (green kept, red dropped)")
    scored = len(kept) < len(layers)  # layers are scored only when some are dropped
    a.set_title(f"layer importance ({record.get('layer_metric', '')})" if scored else
                "layers: none dropped, so none scored", fontsize=10)
    names = list(parts)
    b.bar(names, [max(parts[n]["mean_kl"], 1e-9) for n in names], color="#0969da")
    b.set_yscale("log")
    b.set_title("mean KL to the source, per part pruned alone and all together", fontsize=10)
    for ax in (a, b):
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _svg(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if v != 0 and abs(v) < 0.01 else f"{v:.3f}".rstrip("0").rstrip(".")
    return html.escape(str(v))


def _badges(r: dict) -> str:
    out = []
    if r.get("failure"):
        out.append('<span class="badge fail" title="{}">runtime failed</span>'.format(html.escape(r["failure"])))
    for g in r.get("gates", []):
        applied = g.get("applied", True)
        cls = ("pass" if g["passed"] else "fail") if applied else "na"
        word = ("pass" if g["passed"] else "FAIL") if applied else "not applied"
        value = "-" if g.get("value") is None or (isinstance(g["value"], float) and math.isnan(g["value"])) else _fmt(g["value"])
        out.append(f'<span class="badge {cls}" title="limit {_fmt(g["limit"])}, measured {value}">'
                   f'{html.escape(g["name"])} {word}</span>')
    return " ".join(out) or '<span class="badge na">no gates</span>'


def _target_table(rows: list[dict]) -> str:
    head = ("<tr><th class=l>artifact</th><th>MiB</th><th>mean KL</th><th>top-1</th><th>ppl ratio</th>"
            "<th>prefill t/s</th><th>decode t/s</th><th>peak MiB</th><th class=l>verdict</th><th class=l>gates</th></tr>")
    body = []
    for r in rows:
        a, s = r.get("accuracy") or {}, r.get("speed") or {}
        required = r.get("required", True)
        verdict = ("PASS", "pass") if r.get("passed") else (("FAIL", "fail") if required else ("FAIL (optional)", "opt"))
        top1 = f"{a['top1_agreement']:.1%}" if a else "-"
        body.append(
            f"<tr><td class=l>{html.escape(r['format'])}:{html.escape(r['quant'])}</td><td>{_fmt(r.get('file_mib', 0.0))}</td>"
            f"<td>{_fmt(a['mean_kl']) if a else '-'}</td><td>{top1}</td>"
            f"<td>{_fmt(a['ppl_ratio']) if a else '-'}</td><td>{_fmt(s['prefill_tps']) if s else '-'}</td>"
            f"<td>{_fmt(s['decode_tps']) if s else '-'}</td><td>{_fmt(s.get('peak_rss_mib') or 0.0) if s else '-'}</td>"
            f'<td class="l verdict"><span class="badge {verdict[1]}">{verdict[0]}</span></td><td class=l>{_badges(r)}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _where_table(targets: dict[str, list[dict]]) -> str:
    rows = []
    for target, reports in targets.items():
        for r in reports:
            rt = r.get("runtime") or {}
            versions = ", ".join(f"{k} {v}" for k, v in (rt.get("versions") or {}).items())
            s = r.get("speed") or {}
            where = rt.get("measured_on") or "this host (the build machine)"
            rows.append(f"<tr><td class=l>{html.escape(target)}</td><td class=l>{html.escape(r['format'])}:"
                        f"{html.escape(r['quant'])}</td><td class=l>{html.escape(where)}</td>"
                        f"<td class=l>{html.escape(rt.get('cpu', '-'))}</td><td>{s.get('threads', '-')}</td>"
                        f"<td class=l>{html.escape(rt.get('name', '-'))}</td><td class=l>{html.escape(versions) or '-'}</td></tr>")
    head = ("<tr><th class=l>target</th><th class=l>artifact</th><th class=l>measured on</th><th class=l>CPU</th>"
            "<th>threads</th><th class=l>runtime</th><th class=l>versions</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(page: ReportPage) -> str:
    """The whole page. Every chart it can draw from what the page holds is present."""
    parts = [f"<h1>{html.escape(page.title)}</h1>"]
    parts += [f'<p class="muted">{html.escape(n)}</p>' for n in page.notes]
    for target, rows in page.targets.items():
        ok = all(r.get("passed") or not r.get("required", True) for r in rows)
        parts.append(f'<h2>{html.escape(target)} <span class="badge {"pass" if ok else "fail"}">'
                     f'{"ships" if ok else "does not ship"}</span></h2>')
        parts.append(_target_table(rows))
        svg = _pareto_svg(target, rows)
        if svg:
            parts.append(_chart(f"pareto-{target}", "Each artifact by file size and mean KL; colour is decode tokens/s. "
                                "Ringed artifacts are on the Pareto frontier: no other is smaller, more accurate and "
                                "faster at once.", svg))
    if page.distill:
        svg = _distill_svg(page.distill)
        if svg:
            parts.append("<h2>Distillation</h2>" + _chart("distill", "Held-out KL, perplexity and top-1 agreement "
                                                         "against optimizer steps.", svg))
    if page.prune:
        svg = _prune_svg(page.prune)
        if svg:
            p = page.prune.get("params", {})
            parts.append("<h2>Pruning</h2>" + (f"<p>{p.get('before', 0):,} -> {p.get('after', 0):,} parameters.</p>"
                                               if p else "") + _chart("prune", "Importance of each layer on the "
                                                                      "calibration data, and what each part of the plan "
                                                                      "costs on held-out text.", svg))
    if page.lineage:
        rows = "".join(f"<tr><td class=l>{html.escape(w)}</td><td class=l><code>{html.escape(i)}</code></td></tr>"
                       for w, i in page.lineage)
        parts.append(f"<h2>Lineage</h2><table><tr><th class=l>what</th><th class=l>identity</th></tr>{rows}</table>")
    parts.append("<h2>Where each number was measured</h2>" + _where_table(page.targets))
    if page.environment:
        env = ", ".join(f"{k} {v}" for k, v in page.environment.items())
        parts.append(f'<p class="muted">environment: {html.escape(env)}</p>')
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(page.title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + _RENDER_CHECK + "</body></html>\n")


# After layout, the browser notes each chart's drawn size and element count on <body data-charts>: what a
# headless-browser test (and anyone debugging a blank page) reads. Inline: the page makes no request.
_RENDER_CHECK = """<script>addEventListener('load', () => {
  document.body.dataset.charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const s = f.querySelector('svg'), r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
    return [f.dataset.chart, Math.round(r.width), Math.round(r.height),
            s ? s.querySelectorAll('path,use,text,rect').length : 0].join(' ');
  }).join(';');
});</script>"""
