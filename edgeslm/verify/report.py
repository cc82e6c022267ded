"""The verification report: gates, a readable table, JSON and Markdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from edgeslm.runners.base import SpeedResult
from edgeslm.targets import Gates
from edgeslm.verify.accuracy import AccuracyStats


@dataclass(frozen=True)
class TokenizerParity:
    equal: bool
    reference_tokens: int
    runtime_tokens: int
    first_mismatch: int | None  # index of the first differing id, None when equal


@dataclass(frozen=True)
class GateResult:
    name: str  # the Gates field, e.g. "max_mean_kl"
    limit: float
    value: float
    passed: bool


@dataclass(frozen=True)
class VerifyReport:
    artifact: str
    format: str
    quant: str
    target: str
    reference: dict[str, Any]  # name, sha256
    data: dict[str, Any]  # source, sha256, tokens
    accuracy: AccuracyStats
    greedy_prefix_match: int  # greedy tokens equal to the reference's before the first difference
    greedy_tokens: int  # of this many compared
    tokenizer: TokenizerParity
    speed: SpeedResult
    file_mib: float
    roofline_decode_tps: float
    gates: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["accuracy"] = self.accuracy.to_dict()
        d["passed"] = self.passed
        return d


# Gates field -> the measured value it limits, and whether the limit is a maximum.
_GATE_VALUES = {
    "max_mean_kl": (lambda r: r.accuracy.mean_kl, True),
    "min_top1": (lambda r: r.accuracy.top1_agreement, False),
    "max_ppl_ratio": (lambda r: r.accuracy.ppl_ratio, True),
    "min_decode_tps": (lambda r: r.speed.decode_tps, False),
    "max_file_mib": (lambda r: r.file_mib, True),
    "max_peak_rss_mib": (lambda r: r.speed.peak_rss_mib or 0.0, True),
}


def check_gates(report: VerifyReport, gates: Gates) -> tuple[GateResult, ...]:
    out = []
    for f in fields(gates):
        limit = getattr(gates, f.name)
        if limit is None:
            continue
        value_of, is_max = _GATE_VALUES[f.name]
        v = float(value_of(report))
        out.append(GateResult(f.name, limit, v, v <= limit if is_max else v >= limit))
    return tuple(out)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e5:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(cells))  # noqa: E731
    return "\n".join([line(headers), line(["-" * x for x in w]), *map(line, rows)])


SUMMARY_HEADERS = [
    "artifact", "MiB", "mean KL", "p99 KL", "top-1", "ppl ref", "ppl art", "ppl ratio", "greedy", "tok ids",
    "prefill t/s", "decode t/s", "roofline t/s", "peak MiB", "gates",
]


def _summary_row(r: VerifyReport) -> list[str]:
    a, s = r.accuracy, r.speed
    failed = [g.name for g in r.gates if not g.passed]
    return [
        f"{r.format}:{r.quant}", f"{r.file_mib:.1f}", _fmt(a.mean_kl), _fmt(a.p99_kl), f"{a.top1_agreement:.1%}",
        f"{a.ppl_reference:.3f}", f"{a.ppl_artifact:.3f}", f"{a.ppl_ratio:.4f}", f"{r.greedy_prefix_match}/{r.greedy_tokens}",
        "equal" if r.tokenizer.equal else f"DIFF@{r.tokenizer.first_mismatch}",
        f"{s.prefill_tps:.0f}", f"{s.decode_tps:.1f}", f"{r.roofline_decode_tps:.0f}",
        f"{s.peak_rss_mib or 0:.0f}", "PASS" if not failed else "FAIL: " + ",".join(failed),
    ]


def render_summary(reports: list[VerifyReport]) -> str:
    """One row per artifact: the table `build` prints."""
    return _table(SUMMARY_HEADERS, [_summary_row(r) for r in reports])


def render_gates(r: VerifyReport) -> str:
    rows = [[g.name, _fmt(g.limit), _fmt(g.value), "pass" if g.passed else "FAIL"] for g in r.gates]
    return _table(["gate", "limit", "measured", "result"], rows) if rows else "(no gates)"


def render_markdown(reports: list[VerifyReport], title: str) -> str:
    rows = [_summary_row(r) for r in reports]
    md = [f"# {title}", "", "| " + " | ".join(SUMMARY_HEADERS) + " |", "|" + "---|" * len(SUMMARY_HEADERS)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    for r in reports:
        md += ["", f"## {r.format}:{r.quant} gates", "", "| gate | limit | measured | result |", "|---|---|---|---|"]
        md += [f"| {g.name} | {_fmt(g.limit)} | {_fmt(g.value)} | {'pass' if g.passed else 'FAIL'} |" for g in r.gates]
    return "\n".join(md) + "\n"
