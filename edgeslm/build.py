"""Build: export every artifact a target lists, verify each, write the reports.

    result = build(open_checkpoint("ckpt/"), load_target("host"), Path("out/"), default_eval_text())

Writes OUT/<name>-<quant>.<ext> for each artifact, OUT/report.json,
OUT/report.md, OUT/manifest.json and OUT/logs/ (each runtime process's output).
An artifact whose export fails, or whose runtime crashes, hangs or is killed,
gets a failed row; the others still build and the reports are still written.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from edgeslm.data import TextSet
from edgeslm.errors import ArtifactError, ExportError, OutputPathError
from edgeslm.export import Artifact, export
from edgeslm.formats import format_named
from edgeslm.doctor import cpu_model
from edgeslm.manifest import build_manifest, environment, file_sha256, write_json, write_text
from edgeslm.models.loader import CheckpointDir, load_model
from edgeslm.outputs import check_output
from edgeslm.report_html import ReportPage, render_html
from edgeslm.targets import Target
from edgeslm.verify import VerifyOptions, VerifyReport, verify
from edgeslm.verify.report import render_markdown
from edgeslm.util import HOST_MODEL_LOCK

LOG_DIR = "logs"  # OUT/logs/<artifact>.log: what each runtime process printed
REPORT_HTML = "report.html"  # the page for people (report_html.py)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    target: str
    artifacts: tuple[Artifact, ...]  # those that exported (a failed export has a report and no artifact)
    reports: tuple[VerifyReport, ...]  # one per artifact the target lists, in its order

    @property
    def passed(self) -> bool:
        """Every artifact the target requires verified (a failed optional one is reported, and does not count)."""
        return not any(r.blocks_release for r in self.reports)

    def to_dict(self) -> dict:
        """report.json: the target, the verdict and every artifact's report."""
        return {"target": self.target, "passed": self.passed, "artifacts": [r.to_dict() for r in self.reports]}


def _prepare(out_dir: Path, ckpt: CheckpointDir, overwrite: bool) -> None:
    """The output rule (edgeslm/outputs.py) for the build folder; an earlier build is removed with ``overwrite``."""
    check_output(out_dir, folder=True, inputs=[ckpt.path], overwrite=overwrite)
    if out_dir.exists() and any(out_dir.iterdir()):
        shutil.rmtree(out_dir)  # the artifacts are written one by one as they verify: no staging beside it
    try:
        out_dir.mkdir(exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create {out_dir}: {e.strerror}.", hint="choose another -o location") from e


def build(
    ckpt: CheckpointDir,
    target: Target,
    out_dir: Path,
    data: TextSet,
    *,
    options: VerifyOptions | None = None,
    overwrite: bool = False,
    recipe_sha256: str = "",
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Export and verify every artifact ``target`` lists into ``out_dir``.

    ``out_dir`` follows the output rule (edgeslm/outputs.py): an earlier build
    there is replaced only with ``overwrite``. ``recipe_sha256`` (an `edgeslm run`)
    goes into every artifact's lineage. Gate failures and failed
    artifacts (export errors, runtime crashes) are in the result, not raised.
    Raises OutputPathError, ModelLoadError.
    """
    _prepare(out_dir, ckpt, overwrite)
    progress(f"loading reference {ckpt.name}")
    reference = load_model(ckpt)
    artifacts, reports = [], []
    n = len(target.artifacts)
    for i, spec in enumerate(target.artifacts, 1):
        step = lambda msg, i=i, spec=spec: progress(f"[{i}/{n}] {spec.label}: {msg}")  # noqa: E731
        step("exporting")
        config = spec.config()
        dest = out_dir / format_named(spec.format).artifact_name(ckpt.name, spec.quant)
        try:
            with HOST_MODEL_LOCK, warnings.catch_warnings(record=True) as caught:  # see HOST_MODEL_LOCK
                warnings.simplefilter("always")
                art = export(ckpt, config, dest, recipe_sha256=recipe_sha256)
            for w in caught:
                progress(f"warning: {w.message}")
            step("verifying")
            report = verify(art, reference, target, data, gates=target.gates_for(spec),
                            options=options, runner=spec.runner, log=out_dir / LOG_DIR / f"{dest.name}.log",
                            progress=step)
        except (ExportError, ArtifactError) as e:  # this artifact's row fails; the others still build
            step(f"FAILED: {e.message}")
            report = VerifyReport.failed(str(dest), spec.format, spec.quant, target.name, e.message)
        else:
            artifacts.append(art)
        reports.append(replace(report, required=spec.required))

    progress("writing reports")
    result = BuildResult(out_dir, target.name, tuple(artifacts), tuple(reports))
    by_path = {str(a.path): a for a in artifacts}
    write_json(out_dir / "report.json", result.to_dict())
    title = f"edgeslm build: {ckpt.name} for {target.name}"
    write_text(out_dir / "report.md", render_markdown(reports, title))
    write_text(out_dir / REPORT_HTML, render_html(ReportPage(
        title, {target.name: [r.to_dict() for r in reports]},
        lineage=[("source", f"{ckpt.name} {ckpt.sha256}")] + [(f"{a.format}:{a.quant}", a.path.name) for a in artifacts],
        environment={**environment(), "cpu": cpu_model()}, notes=[f"evaluation text: {data.source}"])))
    write_json(
        out_dir / "manifest.json",
        build_manifest(
            source={"name": ckpt.name, "path": str(ckpt.path), "sha256": ckpt.sha256, "spec": ckpt.spec.to_dict()},
            target=target.name,
            data={"source": data.source, "sha256": data.sha256},
            artifacts=[_manifest_entry(r, by_path.get(r.artifact)) for r in reports],
        ),
    )
    return result


def _manifest_entry(report: VerifyReport, art: Artifact | None) -> dict:
    entry = {"file": Path(report.artifact).name, "format": report.format, "quant": report.quant, "passed": report.passed,
             "required": report.required}
    if art is not None:
        entry.update(sha256=file_sha256(art.path), bytes=art.size_bytes, warnings=list(art.warnings))
    if report.failure:
        entry["failure"] = report.failure
    return entry
