"""`edgeslm lineage ARTIFACT`: the chain back to the teacher, and the file checked against its run's manifest.

The chain is teacher sha256 -> pruned student -> distilled student -> recipe
sha256 -> artifact sha256, read from the run's manifest.json (the nearest one
above the artifact). Every file of the artifact is hashed again and compared
with what the run recorded; the artifact's own lineage (GGUF general.* keys,
edgeslm.json in folders) must name the student it was built from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeslm.errors import ArtifactError
from edgeslm.manifest import file_sha256


@dataclass(frozen=True)
class LineageCheck:
    manifest: Path
    chain: tuple[tuple[str, str], ...]  # (what, identity) from the teacher to the artifact
    mismatches: tuple[str, ...]  # one line per file or record that differs; empty when it all holds

    @property
    def ok(self) -> bool:
        return not self.mismatches


def find_run_manifest(artifact: Path) -> Path:
    """The run manifest.json nearest above ``artifact``. Raises ArtifactError when there is none."""
    from edgeslm.run import RUN_MANIFEST, RUN_SCHEMA

    for folder in artifact.resolve().parents:
        m = folder / RUN_MANIFEST
        if m.is_file():
            try:
                if json.loads(m.read_text()).get("schema") == RUN_SCHEMA:
                    return m
            except ValueError:
                continue
    raise ArtifactError(f"{artifact} is not inside an `edgeslm run` folder (no run manifest.json above it).",
                        hint="lineage is recorded by `edgeslm run RECIPE`; point at an artifact in its output")


def check_lineage(artifact: Path) -> LineageCheck:
    """Trace ``artifact`` and re-hash its files. Raises ArtifactError if the run does not list it."""
    if not artifact.exists():
        raise ArtifactError(f"artifact {artifact} does not exist.")
    manifest_path = find_run_manifest(artifact)
    run = json.loads(manifest_path.read_text())
    rel = artifact.resolve().relative_to(manifest_path.parent.resolve()).as_posix()
    entry = next((a for a in run["artifacts"] if a["file"] == rel), None)
    if entry is None or "files" not in entry:
        raise ArtifactError(f"{manifest_path} does not list {rel} as an artifact of the run.")
    chain = [("teacher", f"{run['lineage']['teacher']['name']} {run['lineage']['teacher']['sha256']}")]
    chain += [(f"{stage} student", run["lineage"][stage]["sha256"]) for stage in ("prune", "distill")
              if stage in run["lineage"]]
    chain += [("recipe", f"{run['recipe']['source']} {run['recipe']['sha256']}"),
              (f"artifact ({entry['target']}, {entry['format']}:{entry['quant']})", f"{rel} {entry['sha256']}")]

    mismatches = []
    for name, sha in entry["files"].items():
        f = artifact / name if name else artifact
        label = f"{rel}/{name}" if name else rel
        if not f.is_file():
            mismatches.append(f"{label}: missing (the run recorded sha256 {sha[:16]}...)")
        elif file_sha256(f) != sha:
            mismatches.append(f"{label}: sha256 {file_sha256(f)[:16]}... differs from the run's {sha[:16]}...")
    if artifact.is_dir():
        extra = sorted(f.relative_to(artifact).as_posix() for f in artifact.rglob("*") if f.is_file()) 
        mismatches += [f"{rel}/{n}: not in the run's record" for n in extra if n not in entry["files"]]
    student = chain[-3][1] if len(chain) > 2 and "student" in chain[-3][0] else run["lineage"]["teacher"]["sha256"]
    student = student.split()[-1]
    recorded = entry.get("reference_sha256")
    if recorded and recorded != student:
        mismatches.append(f"{rel}: verified against {recorded[:16]}..., not the run's student {student[:16]}...")
    teacher = run["lineage"]["teacher"]["sha256"]
    expected = {"source_sha256": student, "recipe_sha256": run["recipe"]["sha256"]}
    if student != teacher:  # an artifact of the teacher itself names no teacher
        expected["teacher_sha256"] = teacher
    mismatches += _embedded(artifact, rel, expected)
    return LineageCheck(manifest_path, tuple(chain), tuple(mismatches))


def _embedded(artifact: Path, rel: str, expected: dict[str, str]) -> list[str]:
    """What the artifact says about itself (GGUF general.edgeslm.* keys, a folder's edgeslm.json) against the run."""
    from edgeslm.errors import EdgeSLMError
    from edgeslm.formats import format_of

    try:
        own = format_of(artifact).read_lineage(artifact)
    except EdgeSLMError as e:
        return [f"{rel}: its lineage cannot be read: {e.message}"]
    return [f"{rel}: its own lineage says {key} {own.get(key, 'nothing')[:16]}..., the run's is {want[:16]}..."
            for key, want in expected.items() if own.get(key) != want]
