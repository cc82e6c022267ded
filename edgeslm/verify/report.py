"""The verification report: gates, a readable table, JSON and Markdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
    passed: bool  # the measured value is within the limit
    applied: bool = True  # False: shown, but not decided on (speed measured off the target, or under emulation)

    @property
    def failed(self) -> bool:
        return self.applied and not self.passed

    @property
    def verdict(self) -> str:
        return ("pass" if self.passed else "FAIL") if self.applied else f"not applied ({'within' if self.passed else 'outside'})"


@dataclass(frozen=True)
class VerifyReport:
    artifact: str
    format: str
    quant: str
    target: str
    reference: dict[str, Any]  # name, sha256
    data: dict[str, Any]  # source, sha256, tokens
    # Measurements are None when the runtime failed before reaching them (see ``failure``).
    accuracy: AccuracyStats | None
    greedy_prefix_match: int | None  # greedy tokens equal to the reference's before the first difference
    greedy_tokens: int  # of this many compared
    tokenizer: TokenizerParity | None
    speed: SpeedResult | None
    file_mib: float
    roofline_decode_tps: float
    gates: tuple[GateResult, ...]
    runtime: dict[str, Any] = field(default_factory=dict)  # name, package versions, build info (llama.cpp system info)
    failure: str | None = None  # why the artifact could not be fully verified: a runtime crash, hang or kill
    required: bool = True  # the target's entry: a failed optional artifact is reported but does not fail a build

    @property
    def passed(self) -> bool:
        return self.failure is None and not any(g.failed for g in self.gates)

    @property
    def blocks_release(self) -> bool:
        """It failed, and the target requires it."""
        return self.required and not self.passed

    @classmethod
    def failed(cls, artifact: str, fmt: str, quant: str, target: str, reason: str) -> "VerifyReport":
        """The row of an artifact that never reached measurement (its export or load failed)."""
        return cls(artifact, fmt, quant, target, {}, {}, None, None, 0, None, None, 0.0, 0.0, (), failure=reason)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["accuracy"] = self.accuracy.to_dict() if self.accuracy else None
        d["passed"] = self.passed
        return d


# gates that only the target's own hardware can decide: measured anywhere else they are shown, not applied
SPEED_GATES = frozenset({"min_decode_tps"})

# Gates field -> the measured value it limits (None: not measured), and whether the limit is a maximum.
_GATE_VALUES = {
    "max_mean_kl": (lambda r: r.accuracy and r.accuracy.mean_kl, True),
    "min_top1": (lambda r: r.accuracy and r.accuracy.top1_agreement, False),
    "max_ppl_ratio": (lambda r: r.accuracy and r.accuracy.ppl_ratio, True),
    "min_decode_tps": (lambda r: r.speed and r.speed.decode_tps, False),
    "max_file_mib": (lambda r: r.file_mib, True),
    "max_peak_rss_mib": (lambda r: r.speed and (r.speed.peak_rss_mib or 0.0), True),
}


def check_gates(report: VerifyReport, gates: Gates, *, apply_speed: bool = True) -> tuple[GateResult, ...]:
    """Each gate against what was measured; a gate whose value a runtime failure left unmeasured is left out
    (the report fails on ``failure`` already). With ``apply_speed`` false (numbers from the build host for a
    device profile, or from an emulator) the speed gates are shown but not applied."""
    out = []
    for f in fields(gates):
        limit = getattr(gates, f.name)
        if limit is None:
            continue
        value_of, is_max = _GATE_VALUES[f.name]
        v = value_of(report)
        if v is None:
            continue
        v = float(v)
        out.append(GateResult(f.name, limit, v, v <= limit if is_max else v >= limit,
                              applied=apply_speed or f.name not in SPEED_GATES))
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


_NA = "-"  # not measured: the runtime failed first


def _summary_row(r: VerifyReport, by_target: bool = False) -> list[str]:
    a, s, t = r.accuracy, r.speed, r.tokenizer
    failed = [g.name for g in r.gates if g.failed]
    verdict = "PASS" if r.passed else ("FAIL" if r.required else "FAIL (optional)") + ": " + ",".join(
        (["runtime"] if r.failure else []) + failed)
    acc = ([_fmt(a.mean_kl), _fmt(a.p99_kl), f"{a.top1_agreement:.1%}", f"{a.ppl_reference:.3f}", f"{a.ppl_artifact:.3f}",
            f"{a.ppl_ratio:.4f}"] if a else [_NA] * 6)
    return [
        f"{r.target} {r.format}:{r.quant}" if by_target else f"{r.format}:{r.quant}", f"{r.file_mib:.1f}", *acc,
        _NA if r.greedy_prefix_match is None else f"{r.greedy_prefix_match}/{r.greedy_tokens}",
        _NA if t is None else "equal" if t.equal else f"DIFF@{t.first_mismatch}",
        *([f"{s.prefill_tps:.0f}", f"{s.decode_tps:.1f}"] if s else [_NA, _NA]), f"{r.roofline_decode_tps:.0f}",
        f"{s.peak_rss_mib or 0:.0f}" if s else _NA, verdict,
    ]


def render_failures(reports: list[VerifyReport], by_target: bool = False) -> str:
    """One line per artifact whose runtime failed: what happened and where its log is ('' when none)."""
    return "\n".join(f"{r.target + ' ' if by_target else ''}{r.format}:{r.quant}: {r.failure}" for r in reports if r.failure)


def render_summary(reports: list[VerifyReport], by_target: bool = False) -> str:
    """One row per artifact: the table `build` prints (``by_target``: rows of a fleet, named by target too)."""
    return _table(SUMMARY_HEADERS, [_summary_row(r, by_target) for r in reports])


def render_gates(r: VerifyReport) -> str:
    rows = [[g.name, _fmt(g.limit), _fmt(g.value), g.verdict] for g in r.gates]
    return _table(["gate", "limit", "measured", "result"], rows) if rows else "(no gates)"


def render_markdown(reports: list[VerifyReport], title: str) -> str:
    rows = [_summary_row(r) for r in reports]
    md = [f"# {title}", "", "| " + " | ".join(SUMMARY_HEADERS) + " |", "|" + "---|" * len(SUMMARY_HEADERS)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    failures = [r for r in reports if r.failure]
    if failures:
        md += ["", "## Runtime failures", ""] + [f"- **{r.format}:{r.quant}**: {r.failure}" for r in failures]
    for r in reports:
        md += ["", f"## {r.format}:{r.quant} gates", "", "| gate | limit | measured | result |", "|---|---|---|---|"]
        md += [f"| {g.name} | {_fmt(g.limit)} | {_fmt(g.value)} | {g.verdict} |" for g in r.gates]
    return "\n".join(md) + "\n"
