"""Artifact formats: everything edgeslm knows about a format, in one record registered once.

    fmt = format_named("gguf")
    fmt.quants["Q4_K_M"]                       # its quant table
    fmt.artifact_name("demo", "Q4_K_M")        # "demo-Q4_K_M.gguf"
    format_of(Path("out/demo-onnx-int4"))      # the onnx record, from its marker file

A ``Format`` holds the exporter's config class and function, the default
runner, how its artifacts are recognised (file suffix, folder marker), its
quant table, how its artifacts are named in a build, what a decode step reads
(bytes per token) and how to read the lineage an artifact carries. Adding a
format is one module in this package with one ``register_format`` call: no
other file branches on a format's name.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from edgeslm.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from edgeslm.export.base import Artifact
    from edgeslm.models.loader import CheckpointDir
    from edgeslm.models.spec import ModelSpec

LINEAGE_FILE = "edgeslm.json"  # the lineage a folder artifact carries (GGUF keeps it in general.* keys)


@dataclass(frozen=True)
class Format:
    name: str  # what --format, target profiles and recipes say: "gguf"
    title: str  # for people: "GGUF (llama.cpp)"
    summary: str  # one paragraph for `edgeslm export --help`
    config: type  # the exporter's frozen config dataclass; its ``quant`` field picks from ``quants``
    quants: Mapping[str, Any]  # quant name -> the quantizer's settings (each has ``why``)
    export: Callable[[CheckpointDir, Any, Path], Artifact]  # writes the artifact at the path it is given
    runner: Callable[[], Any]  # the default runner class, imported only when asked: runtimes load slowly
    probe: Callable[[Path], None]  # cheap in-process check of headers; raises ArtifactError
    read_lineage: Callable[[Path], dict]  # what the artifact records about itself; {} when nothing
    bytes_per_token: Callable[[Path, ModelSpec], int]  # weight bytes a decode step reads, for the roofline
    suffix: str  # a file with this suffix is of this format (".gguf"; for folder formats, the marker's)
    marker: str | None = None  # the file that makes a folder an artifact of this format; None: one-file format
    options: tuple[str, ...] = ()  # config fields users may set (--group-size ...), besides quant
    name_pattern: str = "{model}-{format}-{quant}"  # the artifact's name in a build folder
    # `inspect`: estimated size per quant type from the checkpoint's headers, when the format can tell
    size_estimates: Callable[[CheckpointDir], list[dict]] | None = None
    # what an app needs from the artifact itself: bos_token_id, eos_token_ids, chat_template, context_length
    model_card: Callable[[Path], dict] | None = None
    # binary mode: the function that measures an artifact with the format's own command-line tools on a device
    # (see verify/binary.py for its signature); imported only when asked. None: agent mode only
    device_tools: Callable[[], Callable] | None = None

    @property
    def is_folder(self) -> bool:
        return self.marker is not None

    @property
    def default_quant(self) -> str:
        return next(f.default for f in fields(self.config) if f.name == "quant")

    def artifact_name(self, model: str, quant: str) -> str:
        return self.name_pattern.format(model=model, format=self.name, quant=quant)

    def canonical_quant(self, quant: str) -> str | None:
        """The table's spelling of ``quant`` (q4_k_m -> Q4_K_M), or None if the format has no such quant."""
        return next((q for q in self.quants if q.lower() == quant.lower()), None)

    def make_config(self, quant: str | None = None, **options: Any):
        """The exporter config. Raises UsageError naming an option this format does not take, or a bad value."""
        wrong = sorted(set(options) - set(self.options))
        if wrong:
            raise UsageError(f"option {wrong[0]!r} does not apply to the {self.name} format.",
                             hint=f"{self.name} takes: {', '.join(self.options) or 'no options'}")
        return self.config(**({"quant": quant} if quant else {}), **options)


_REGISTRY: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Add ``fmt``; a plugin's format is registered the same way."""
    _REGISTRY[fmt.name] = fmt
    return fmt


def all_formats() -> dict[str, Format]:
    """Every registered format by name, built-ins first."""
    _load_builtins()
    return dict(_REGISTRY)


def format_named(name: str) -> Format:
    """The format called ``name``. Raises UsageError with the closest names."""
    formats = all_formats()
    if name in formats:
        return formats[name]
    close = difflib.get_close_matches(name, formats, n=1)
    raise UsageError(f"unknown format {name!r}.", hint=(f"did you mean {close[0]!r}? " if close else "")
                     + f"formats: {', '.join(formats)}")


def format_for_config(config: Any) -> Format:
    """The format whose exporter takes ``config``. Raises UsageError."""
    for fmt in all_formats().values():
        if type(config) is fmt.config:
            return fmt
    raise UsageError(f"no exporter takes {type(config).__name__}; formats: {', '.join(all_formats())}")


def format_of(path: Path) -> Format:
    """The format of an artifact at ``path``: its marker file for a folder, its suffix for a file.

    Raises ArtifactError naming what would have been recognised.
    """
    formats = all_formats().values()
    if path.is_dir():
        found = next((f for f in formats if f.marker and (path / f.marker).is_file()), None)
        if found is None:
            markers = " or ".join(f.marker for f in formats if f.marker)
            raise ArtifactError(f"{path} is a folder without {markers}: not an artifact edgeslm knows.")
        return found
    found = next((f for f in formats if path.suffix.lower() == f.suffix), None)
    if found is None:
        raise ArtifactError(f"{path}: cannot tell the artifact format from the name.",
                            hint=f"known artifact suffixes: {', '.join(f.suffix for f in formats)}")
    return found


def folder_lineage(path: Path) -> dict:
    """The lineage file of a folder artifact (or of the folder holding a bare program file); {} if absent."""
    lineage = (path if path.is_dir() else path.parent) / LINEAGE_FILE
    try:
        d = json.loads(lineage.read_text())
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def folder_bytes_per_token(path: Path, spec: ModelSpec) -> int:
    """Weight bytes a decode step reads from a folder artifact: its model files less the fp32
    embedding table, of which a step reads one row (ExecuTorch and ONNX keep a separate head)."""
    files = [f for f in path.rglob("*") if f.is_file() and f.suffix in (".pte", ".onnx", ".data")]
    return max(1, sum(f.stat().st_size for f in files) - spec.vocab_size * spec.hidden_size * 4)


def folder_model_card(path: Path, context_length: int | None) -> dict:
    """BOS/EOS and the chat template from the tokenizer files a folder artifact carries."""
    def read(name: str) -> dict:
        try:
            d = json.loads((path / name).read_text())
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    gen, tok = read("generation_config.json"), read("tokenizer_config.json")
    eos = gen.get("eos_token_id")
    return {"bos_token_id": gen.get("bos_token_id"), "eos_token_ids": eos if isinstance(eos, list) else [eos] if eos is not None else [],
            "chat_template": tok.get("chat_template"), "context_length": context_length}


_builtins_loaded = False


def _load_builtins() -> None:
    """Register the built-in formats once, then any plugin's not yet loaded ($EDGESLM_PLUGINS)."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        # each module registers its record; this order is the order of tables and --help
        from edgeslm.formats import gguf  # noqa: F401
        from edgeslm.formats import executorch  # noqa: F401, I001
        from edgeslm.formats import onnx  # noqa: F401, I001
    from edgeslm.plugins import load_plugins

    load_plugins()
