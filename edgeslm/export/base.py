"""The export stage: checkpoint -> the Artifact a device runtime loads, with the lineage it carries.

    art = export(open_checkpoint("ckpt/"), GGUFConfig(quant="Q4_K_M"), "model.gguf")
    art = open_artifact(Path("model.gguf"))     # an artifact given on the command line

Which exporter runs is decided by the config's type, through the format
registry (edgeslm.formats): one record per format.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeslm import __version__
from edgeslm.errors import ArtifactError
from edgeslm.formats import LINEAGE_FILE
from edgeslm.models.loader import CheckpointDir


@dataclass(frozen=True)
class Artifact:
    """A file (or folder) a device runtime loads, with where it came from."""

    path: Path
    format: str  # a registered format's name: "gguf", "executorch", "onnx"
    quant: str  # in the format's quant table, or "unknown" for a file another tool made
    source_sha256: str  # the checkpoint it was exported from; "" when it does not say
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def size_bytes(self) -> int:
        from edgeslm.util import path_size

        return path_size(self.path)

    @property
    def lineage(self) -> dict:
        """What the artifact records about itself (quant, source, teacher and recipe sha256...)."""
        from edgeslm.formats import format_named

        return format_named(self.format).read_lineage(self.path)


@dataclass(frozen=True)
class ArtifactLineage:
    """Written into every artifact: the chain teacher sha256 -> student sha256 -> recipe sha256."""

    source: str  # the exported checkpoint's name
    source_sha256: str  # ... and its identity (config, weights, tokenizer)
    quant: str
    teacher_sha256: str = ""  # the teacher it was pruned or distilled from; "" when edgeslm did not make it
    recipe_sha256: str = ""  # the `edgeslm run` recipe that built it; "" for a plain export
    edgeslm_version: str = __version__

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def lineage_for(ckpt: CheckpointDir, quant: str, recipe_sha256: str = "") -> ArtifactLineage:
    """The lineage to write for an export of ``ckpt``: its teacher from the records edgeslm left beside it."""
    from edgeslm.models.provenance import teacher_sha256

    return ArtifactLineage(ckpt.name, ckpt.sha256, quant, teacher_sha256(ckpt), recipe_sha256)


def check_export_output(ckpt: CheckpointDir, config: Any, out: Path, *, overwrite: bool = False) -> None:
    """The output rule (outputs.check_output) for this format's artifact. Raises OutputPathError."""
    from edgeslm.formats import format_for_config
    from edgeslm.outputs import check_output

    fmt = format_for_config(config)
    check_output(out, folder=fmt.is_folder, inputs=[ckpt.path], overwrite=overwrite,
                 suffix=None if fmt.is_folder else fmt.suffix)


def export(ckpt: CheckpointDir, config: Any, out: str | Path, *, overwrite: bool = False,
           recipe_sha256: str = "") -> Artifact:
    """Export ``ckpt`` with the exporter of the format that takes ``type(config)``.

    ``out`` follows the output rule (edgeslm/outputs.py): an existing earlier
    edgeslm artifact is replaced only with ``overwrite``, and only once the new
    one is complete. ``recipe_sha256`` goes into the artifact's lineage.
    Raises OutputPathError, UsageError, ExportError.
    """
    from edgeslm.formats import format_for_config
    from edgeslm.outputs import atomic_path

    fmt = format_for_config(config)
    out = Path(out)
    check_export_output(ckpt, config, out, overwrite=overwrite)
    lineage = lineage_for(ckpt, config.quant, recipe_sha256)
    with atomic_path(out, folder=fmt.is_folder) as dest:
        art = fmt.export(ckpt, config, dest, lineage)
    return replace(art, path=out)


def open_artifact(path: Path) -> Artifact:
    """An Artifact for a file or folder given on the command line: its format from the name or marker,
    a cheap header check (nothing is loaded into a runtime), and quant and source from its own lineage.

    Raises ArtifactError naming what is wrong.
    """
    from edgeslm.formats import format_of

    if not path.exists():
        raise ArtifactError(f"artifact {path} does not exist.")
    fmt = format_of(path)
    fmt.probe(path)
    lineage = fmt.read_lineage(path)
    return Artifact(path, fmt.name, lineage.get("quant", "unknown"), lineage.get("source_sha256", ""),
                    details={"lineage": lineage})


def write_lineage(folder: Path, lineage: ArtifactLineage, fmt: str, options: dict[str, Any]) -> None:
    """The lineage file of a folder artifact."""
    (folder / LINEAGE_FILE).write_text(json.dumps({"format": fmt, **lineage.to_dict(), "options": options}, indent=2))


# tokenizer files copied next to folder artifacts, for the runtimes' own tokenizers
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")


def copy_tokenizer(ckpt: CheckpointDir, folder: Path) -> None:
    import shutil

    for name in TOKENIZER_FILES:
        if (ckpt.path / name).is_file():
            shutil.copyfile(ckpt.path / name, folder / name)
