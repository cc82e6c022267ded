"""The export registry, the Artifact type every exporter returns, and atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from edgeslm.errors import EdgeSLMError, OutputPathError, UsageError
from edgeslm.models.loader import CheckpointDir
from edgeslm.outputs import disk_full, disk_full_error, normal_permissions


@dataclass(frozen=True)
class Artifact:
    """A file (or folder) a device runtime loads, with where it came from."""

    path: Path
    format: str  # "gguf", later "executorch", "onnx"
    quant: str
    source_sha256: str
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def size_bytes(self) -> int:
        from edgeslm.util import path_size

        return path_size(self.path)


C = TypeVar("C")
_EXPORTERS: dict[type, Callable[[CheckpointDir, Any, Path], Artifact]] = {}
_FILE_SUFFIX: dict[type, str | None] = {}  # config class -> the artifact's file suffix, None for a folder
FORMATS: dict[str, type] = {}  # CLI format name -> config class


def register_exporter(name: str, *, file_suffix: str | None = None):
    """Register ``fn(ckpt, config, out) -> Artifact`` for a config type, under a format name.

    ``file_suffix``: the artifact is one file with that suffix (".gguf"); None: a folder.
    """

    def deco(fn):
        cfg_type = fn.__annotations__.get("config")
        if isinstance(cfg_type, str):  # from __future__ annotations
            cfg_type = fn.__globals__[cfg_type]
        _EXPORTERS[cfg_type] = fn
        _FILE_SUFFIX[cfg_type] = file_suffix
        FORMATS[name] = cfg_type
        return fn

    return deco


def check_export_output(ckpt: CheckpointDir, config: Any, out: Path, *, overwrite: bool = False) -> None:
    """The output rule (outputs.check_output) for this format's artifact. Raises OutputPathError."""
    from edgeslm.outputs import check_output

    suffix = _FILE_SUFFIX.get(type(config))
    check_output(out, folder=suffix is None, inputs=[ckpt.path], overwrite=overwrite, suffix=suffix)


def export(ckpt: CheckpointDir, config: Any, out: str | Path, *, overwrite: bool = False) -> Artifact:
    """Export ``ckpt`` with the exporter registered for ``type(config)``.

    ``out`` follows the output rule (edgeslm/outputs.py): an existing earlier
    edgeslm artifact is replaced only with ``overwrite``, and only once the new
    one is complete. Raises OutputPathError, UsageError, ExportError.
    """
    from dataclasses import replace as with_fields

    from edgeslm.outputs import replacing

    fn = _EXPORTERS.get(type(config))
    if fn is None:
        raise UsageError(f"no exporter for {type(config).__name__}; formats: {', '.join(FORMATS)}")
    out = Path(out)
    check_export_output(ckpt, config, out, overwrite=overwrite)
    with replacing(out) as dest:
        art = fn(ckpt, config, dest)
    return with_fields(art, path=out)


def check_output_path(out: Path) -> None:
    """Refuse an output whose directory is missing or not writable, before any work is done."""
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"output directory {parent} does not exist.", hint=f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"output directory {parent} is not writable.", hint="choose another -o location")
    if out.is_dir():
        raise OutputPathError(f"{out} is a directory; give a file name such as {out}/model.gguf")


@contextlib.contextmanager
def scratch_file(beside: Path, tag: str = "") -> Iterator[Path]:
    """Yield a hidden temporary path in ``beside``'s directory, always deleted afterwards."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=f"{tag}.partial", dir=beside.resolve().parent)
    except OSError as e:
        raise OutputPathError(
            f"cannot write in {beside.resolve().parent}: {e.strerror}.", hint="choose another output location"
        ) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    except Exception as e:
        if not isinstance(e, EdgeSLMError) and disk_full(tmp_path.parent, e):
            raise disk_full_error(tmp_path.parent) from e
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; rename it to ``out`` only if the block succeeds.

    A failure or Ctrl-C never leaves a half-written artifact at ``out``.
    """
    check_output_path(out)
    with scratch_file(out) as tmp:
        yield tmp
        normal_permissions(tmp)  # mkstemp makes 0600; artifacts get normal permissions
        os.replace(tmp, out)


LINEAGE_FILE = "edgeslm.json"  # lineage written inside folder artifacts (ExecuTorch, ONNX)


def check_output_folder(out: Path) -> None:
    """Refuse a folder output that exists with content, or whose parent is missing or read-only.

    Call it before expensive work; atomic_output_dir calls it again.
    """
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"output directory {parent} does not exist.", hint=f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"output directory {parent} is not writable.", hint="choose another -o location")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputPathError(f"{out} already exists and is not an empty folder.", hint="choose a new -o location")


@contextlib.contextmanager
def atomic_output_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; rename it to ``out`` only if the block succeeds.

    ``out`` must not exist, or be an empty folder. Raises OutputPathError.
    """
    import shutil

    check_output_folder(out)
    parent = out.resolve().parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    except OSError as e:
        raise OutputPathError(f"cannot write in {parent}: {e.strerror}.", hint="choose another output location") from e
    try:
        yield tmp
        normal_permissions(tmp)  # mkdtemp makes 0700, and some writers leave files 0600
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except Exception as e:
        if not isinstance(e, EdgeSLMError) and disk_full(parent, e):
            raise disk_full_error(parent) from e
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_lineage(folder: Path, ckpt: CheckpointDir, fmt: str, quant: str, options: dict[str, Any]) -> None:
    import json

    from edgeslm import __version__

    (folder / LINEAGE_FILE).write_text(json.dumps({
        "format": fmt, "quant": quant, "options": options, "source": ckpt.name, "source_sha256": ckpt.sha256,
        "edgeslm_version": __version__,
    }, indent=2))


# tokenizer files copied next to folder artifacts, for the runtimes' own tokenizers
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")


def copy_tokenizer(ckpt: CheckpointDir, folder: Path) -> None:
    import shutil

    for name in TOKENIZER_FILES:
        if (ckpt.path / name).is_file():
            shutil.copyfile(ckpt.path / name, folder / name)
