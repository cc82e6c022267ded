"""Where a command may write: one rule, used by every command that writes.

* An output equal to or inside one of the command's inputs is always refused,
  and so is an output that holds an input (replacing it would delete the input).
* An output that exists is refused, with a hint, unless it is an earlier
  edgeslm output (recognised by its lineage: a GGUF's ``general.edgeslm.*``
  keys, or a folder's lineage file) *and* the user passed ``--overwrite``.
  Something edgeslm did not make is never replaced, ``--overwrite`` or not.
* An empty folder is a fine place for a folder output.
* The parent folder must exist and be writable.

It is checked before any work starts. Replacing happens only once the new
output is complete (``replacing``): until then the earlier one stays whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from edgeslm.errors import EdgeSLMError, OutputPathError
from edgeslm.formats import LINEAGE_FILE

# Files whose presence marks a folder as an edgeslm output: export lineage (ExecuTorch,
# ONNX), prune and distill records, a build's manifest, the teacher recipe's record.
# A run folder's marker is written when a training run starts, so an interrupted run is ours too.
RUN_MARKER = "run/edgeslm-run.json"
STAGE_FILE = "stage.json"  # in every stage's folder: what it was made from, what it made, by what, how long
LINEAGE_MARKERS = (LINEAGE_FILE, STAGE_FILE, "prune_record.json", "distill.json", "manifest.json", "training.json",
                   RUN_MARKER)


def is_edgeslm_output(path: Path) -> bool:
    """Whether ``path`` carries edgeslm's lineage (and so edgeslm made it)."""
    if path.is_dir():
        return any((path / m).is_file() for m in LINEAGE_MARKERS)
    if path.suffix.lower() == ".zip":  # an app bundle from `edgeslm package`
        import zipfile

        from edgeslm.package import PACKAGE_FILE

        try:
            with zipfile.ZipFile(path) as z:
                return PACKAGE_FILE in z.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
    from edgeslm.formats import format_of

    try:  # a one-file artifact carries its lineage inside (GGUF general.edgeslm.* keys)
        return bool(format_of(path).read_lineage(path).get("edgeslm_version"))
    except EdgeSLMError:  # an unknown or unreadable file is not one of ours
        return False


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output(out: Path, *, folder: bool, inputs: Iterable[Path] = (), overwrite: bool = False,
                 suffix: str | None = None, flag: str = "-o") -> None:
    """Apply the rule to ``out`` (a folder output if ``folder``). Raises OutputPathError naming what to do.

    ``suffix``: the file name a file output must end with (".gguf"). ``flag``
    names the option in messages.
    """
    resolved = out.resolve()
    for inp in inputs:
        src = Path(inp).resolve()
        if _inside(resolved, src):
            raise OutputPathError(f"{flag} {out} is {'the input' if resolved == src else 'inside the input'} {inp}; "
                                  "writing there would destroy or mix with it.", hint=f"choose a {flag} outside {inp}")
        if _inside(src, resolved):
            raise OutputPathError(f"{flag} {out} holds the input {inp}; replacing it would delete the input.",
                                  hint=f"choose a {flag} that does not contain {inp}")
    parent = resolved.parent
    if not parent.is_dir():
        raise OutputPathError(f"output directory {parent} does not exist.", hint=f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"output directory {parent} is not writable.", hint=f"choose another {flag} location")
    if not folder and out.is_dir():
        raise OutputPathError(f"{flag} {out} is a folder; give a file name, such as {out}/model{suffix or ''}.")
    if suffix and out.suffix.lower() != suffix:
        raise OutputPathError(f"{flag} {out}: this artifact is written as a {suffix} file.",
                              hint=f"name it {out.with_suffix(suffix).name}")
    if folder and out.suffix.lower() in artifact_suffixes():
        raise OutputPathError(f"{flag} {out}: this artifact is a folder, and a {out.suffix} name would pass for "
                              "another format.", hint=f"name it {out.with_suffix('').name}")
    if not (out.exists() or out.is_symlink()):
        return
    if folder and out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    if folder and not out.is_dir():
        raise OutputPathError(f"{out} exists and is not a folder.", hint=f"choose a new {flag} location")
    if out.is_symlink() or not is_edgeslm_output(out):
        raise OutputPathError(f"{out} already exists and edgeslm did not make it; it is never replaced.",
                              hint=f"choose a new {flag} location")
    if not overwrite:
        raise OutputPathError(f"{out} already exists (an earlier edgeslm output).",
                              hint=f"pass --overwrite to replace it, or choose a new {flag} location")


def artifact_suffixes() -> tuple[str, ...]:
    """Every registered format's file suffix: a folder output named so would pass for another format."""
    from edgeslm.formats import all_formats

    return tuple(f.suffix for f in all_formats().values())


def start_run_folder(out: Path) -> None:
    """Make ``out`` the fresh home of a resumable training run (checkpoints in out/run).

    Call after check_output allowed ``out``: an earlier edgeslm output there is
    removed (the run writes in place, so it cannot be staged beside it), and the
    run marker is written first so that an interrupted run is recognised as ours.
    """
    import json
    from datetime import datetime, timezone

    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    (out / RUN_MARKER).parent.mkdir(parents=True, exist_ok=True)
    (out / RUN_MARKER).write_text(json.dumps({"started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))


def disk_full(where: Path, error: BaseException | None = None, margin: int = 1 << 20) -> bool:
    """Whether a failed write in ``where`` (a folder) ran out of space.

    Writers report a full disk in many ways (ENOSPC, numpy's "N requested and M
    written", safetensors' and llama.cpp's own messages), so the error's errno
    is checked and, failing that, the free space left (under ``margin`` bytes).
    """
    import errno

    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(where).free < margin
    except OSError:
        return False


def disk_full_error(where: Path) -> OutputPathError:
    return OutputPathError(f"no space left on the device holding {where}; nothing was written.",
                           hint="free some space, or choose an output on another disk")


def normal_permissions(path: Path) -> None:
    """Give files 0666 and folders 0777, less the umask: what any other tool's output gets.

    Temporary files and folders (mkstemp, mkdtemp) are 0600/0700, and some
    writers keep that mode; an artifact others must read should not.
    """
    umask = os.umask(0)
    os.umask(umask)
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in paths:
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def check_report_path(dest: str | None, flag: str = "--json") -> None:
    """Refuse a report path (``--json``) that cannot be written, before any work; None and "-" (stdout) pass.

    Reports are rewritten like a shell redirection: only the folder is checked. Raises OutputPathError.
    """
    if dest in (None, "-"):
        return
    p = Path(dest)
    parent = p.resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"{flag} {dest}: folder {parent} does not exist.", hint=f"create it first: mkdir -p {parent}")
    if p.is_dir():
        raise OutputPathError(f"{flag} {dest} is a folder; give a file name such as {p / 'report.json'}.")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{flag} {dest}: folder {parent} is not writable.")


def previous_of(out: Path) -> Path:
    """Where atomic_path keeps an earlier folder ``out`` while the new one takes its place: killed
    between the two renames, the earlier one is whole here (the training loop resumes from it)."""
    return out.parent / f".{out.name}.old"


@contextlib.contextmanager
def atomic_path(out: Path, *, folder: bool = False, carry: Sequence[str] = ()) -> Iterator[Path]:
    """The one atomic writer. Yields a hidden sibling of ``out`` to write: an empty folder with
    ``folder``, else a new empty file. When the block succeeds, the entries named in ``carry`` move
    over from an existing ``out`` (a training run's checkpoints), and the sibling, with normal
    permissions, takes ``out``'s place; an earlier ``out`` is removed only then. On failure the sibling
    goes and ``out`` is untouched.

    Call check_output first: this does not decide whether replacing is allowed.
    Raises OutputPathError (cannot write there, or the disk filled up).
    """
    parent = out.absolute().parent
    try:
        if folder:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as e:
        raise OutputPathError(f"cannot write in {parent}: {e.strerror}.", hint="choose another output location") from e
    try:
        yield tmp
        for name in carry:
            if (out / name).exists():
                os.replace(out / name, tmp / name)
        normal_permissions(tmp)  # mkstemp/mkdtemp make 0600/0700, and some writers keep that
        if folder and out.exists():  # a folder cannot be renamed over a non-empty one
            old = previous_of(out)
            _remove(old)
            os.replace(out, old)
            os.replace(tmp, out)
            _remove(old)
        else:
            os.replace(tmp, out)
    except Exception as e:
        if not isinstance(e, EdgeSLMError) and disk_full(parent, e):
            raise disk_full_error(parent) from e
        raise
    finally:
        if tmp.exists():
            _remove(tmp)


@contextlib.contextmanager
def scratch_file(beside: Path, tag: str = "") -> Iterator[Path]:
    """Yield a hidden temporary path in ``beside``'s folder, always deleted afterwards (never an output)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=f"{tag}.partial", dir=beside.absolute().parent)
    except OSError as e:
        raise OutputPathError(f"cannot write in {beside.absolute().parent}: {e.strerror}.",
                              hint="choose another output location") from e
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


# --- stage folders -------------------------------------------------------------



def write_stage_record(folder: Path, stage: str, config: Any, inputs: Mapping[str, str], seconds: float,
                       skip: Sequence[str] = ("run",)) -> dict:
    """Write ``folder``/stage.json and return it: the stage's name and config, its inputs' sha256, the
    sha256 of every file it made (but those under ``skip``: a run's checkpoints), versions and timing."""
    from datetime import datetime, timezone

    from edgeslm.manifest import environment, file_sha256

    made = sorted(f for f in folder.rglob("*") if f.is_file() and f.name != STAGE_FILE
                  and f.relative_to(folder).parts[0] not in skip)
    record = {
        "stage": stage, "config": config, "inputs": dict(inputs),
        "outputs": {f.relative_to(folder).as_posix(): file_sha256(f) for f in made},
        "versions": environment(), "seconds": round(seconds, 2),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / STAGE_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record


def read_stage_record(folder: Path) -> dict | None:
    """A finished stage's record; None when ``folder`` holds no finished stage."""
    try:
        d = json.loads((folder / STAGE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


@contextlib.contextmanager
def stage_output(out: Path, stage: str, config: Any, inputs: Mapping[str, str], *,
                 carry: Sequence[str] = ()) -> Iterator[Path]:
    """atomic_path for a stage's folder that also records stage.json (write_stage_record) before
    the folder takes ``out``'s place: a folder with stage.json is a finished stage, whole."""
    t0 = time.perf_counter()
    with atomic_path(out, folder=True, carry=carry) as tmp:
        yield tmp
        write_stage_record(tmp, stage, config, inputs, time.perf_counter() - t0)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
