"""The default corpus: Python source from the running interpreter's standard library.

It is on every machine, so the demo works offline and models a real edge
workload (on-device code completion). Extraction is deterministic: files are
taken in sorted relative-path order, and each file goes to exactly one split
by a hash of its relative path, so the splits do not depend on where Python
is installed or on which other files exist.
"""

from __future__ import annotations

import hashlib
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgeslm.data import TextSet, load_text, stress_text
from edgeslm.errors import DataError

SPLITS = ("train", "validation", "test")
# Per 100 buckets of sha256(relative path): 5 test, 5 validation, 90 train.
_TEST_BUCKETS, _VAL_BUCKETS = 5, 5
# Test suites and demo/tool folders are not the code people complete on device.
_EXCLUDED_PARTS = frozenset({"test", "tests", "site-packages", "dist-packages", "__pycache__", "idlelib", "lib2to3",
                             "turtledemo", "ensurepip"})
FILE_SEPARATOR = "\n\n"


def split_of(relpath: str) -> str:
    """Which split a stdlib file belongs to: a pure function of its relative path."""
    bucket = int(hashlib.sha256(relpath.encode()).hexdigest(), 16) % 100
    if bucket < _TEST_BUCKETS:
        return "test"
    if bucket < _TEST_BUCKETS + _VAL_BUCKETS:
        return "validation"
    return "train"


@dataclass(frozen=True)
class Corpus:
    name: str
    python_version: str
    root: str
    files: dict[str, tuple[str, ...]]  # split -> relative paths, sorted
    splits: dict[str, TextSet]  # split -> text

    @property
    def sha256(self) -> str:
        """One hash over all splits: what results say they were measured on."""
        h = hashlib.sha256()
        for s in SPLITS:
            h.update(f"{s}:{self.splits[s].sha256}".encode())
        return h.hexdigest()


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@lru_cache(maxsize=2)
def stdlib_corpus(root: str | None = None) -> Corpus:
    """Extract the stdlib corpus. Files that are not UTF-8 (a few test fixtures) are skipped."""
    base = Path(root) if root else stdlib_root()
    if not base.is_dir():
        raise DataError(f"the standard library folder {base} does not exist.")
    files: dict[str, list[str]] = {s: [] for s in SPLITS}
    texts: dict[str, list[str]] = {s: [] for s in SPLITS}
    for p in sorted(base.rglob("*.py"), key=lambda q: q.relative_to(base).as_posix()):
        rel = p.relative_to(base).as_posix()
        if _EXCLUDED_PARTS.intersection(rel.split("/")) or not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        s = split_of(rel)
        files[s].append(rel)
        texts[s].append(text)
    v = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    return Corpus(
        name="stdlib",
        python_version=v,
        root=str(base),
        files={s: tuple(files[s]) for s in SPLITS},
        splits={s: TextSet.of(FILE_SEPARATOR.join(texts[s]), f"stdlib:{s} (python {v})") for s in SPLITS},
    )


def named_set(name: str, split: str = "test") -> TextSet:
    """A data set by name ("stdlib", "stress") or a user path (file, folder, JSONL)."""
    if name == "stdlib":
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return stdlib_corpus().splits[split]
    if name == "stress":
        return stress_text()
    return load_text(name)
