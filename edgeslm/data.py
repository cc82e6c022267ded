"""Evaluation and calibration text: loading and validating what users pass with --data.

``--data`` accepts a UTF-8 text file, a folder of text files (read in sorted
order), or JSONL with a "text" field or prompt/response pairs. Bad data is
refused before any work starts: empty, binary, not UTF-8, or JSONL without a
usable field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from edgeslm.errors import DataError

CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "calibration"
STRESS_FILE = CALIBRATION_DIR / "stress.txt"
TEXT_SUFFIXES = (".txt", ".md", ".py", ".rst", ".json", ".c", ".h", ".js", ".ts", ".java", ".go", ".rs")

@dataclass(frozen=True)
class TextSet:
    """A body of text with where it came from and its content hash."""

    text: str
    source: str
    sha256: str

    @classmethod
    def of(cls, text: str, source: str) -> "TextSet":
        return cls(text, source, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _decode(raw: bytes, where: str) -> str:
    if b"\x00" in raw[:65536]:
        raise DataError(f"{where} looks binary (it contains NUL bytes); evaluation data must be UTF-8 text.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{where} is not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}).",
            hint="convert it first, for example: iconv -f latin1 -t utf-8 IN > OUT",
        ) from e


def _jsonl(text: str, where: str) -> str:
    parts = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}:{n}: not valid JSON ({e.msg}).") from e
        if isinstance(rec, dict) and isinstance(rec.get("text"), str):
            parts.append(rec["text"])
        elif isinstance(rec, dict) and isinstance(rec.get("prompt"), str) and isinstance(rec.get("response"), str):
            parts.append(rec["prompt"] + rec["response"])
        else:
            raise DataError(
                f"{where}:{n}: each JSONL record needs a string \"text\" field, or \"prompt\" and \"response\".",
                hint='for example: {"text": "def add(a, b):\\n    return a + b\\n"}',
            )
    return "\n".join(parts)


def load_text(path: str | Path) -> TextSet:
    """Read --data into one TextSet. Raises DataError for anything unusable."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data path {p} does not exist.")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in TEXT_SUFFIXES + (".jsonl",))
        if not files:
            raise DataError(f"folder {p} holds no text files ({', '.join(TEXT_SUFFIXES)}, .jsonl).")
        texts = [load_text(f).text for f in files]
        text = "\n".join(texts)
    else:
        text = _decode(p.read_bytes(), str(p))
        if p.suffix == ".jsonl":
            text = _jsonl(text, str(p))
    if not text.strip():
        raise DataError(f"{p} is empty (or only whitespace); there is nothing to evaluate on.")
    return TextSet.of(text, str(p))


def default_eval_text() -> TextSet:
    """The default evaluation set: the test split of the stdlib corpus (edgeslm.corpus)."""
    from edgeslm.corpus import stdlib_corpus

    return stdlib_corpus().splits["test"]


def stress_text() -> TextSet:
    # read bytes: text mode would translate the set's CRLF lines away
    return TextSet.of(STRESS_FILE.read_bytes().decode("utf-8"), str(STRESS_FILE))


def text_or_split(path: str | Path | None, split: str) -> TextSet:
    """The text at ``path``, or when none is given, that split of the stdlib corpus (train, validation, test).

    The one default every command and recipe uses for data that was not given.
    """
    if path is not None:
        return load_text(path)
    from edgeslm.corpus import stdlib_corpus

    return stdlib_corpus().splits[split]


def named_or_path(value: str, split: str, base: Path) -> TextSet:
    """A recipe's data value: a named set ("stdlib" gives its ``split``, "stress") or a path relative to ``base``."""
    if value == "stress":
        return stress_text()
    return text_or_split(None if value == "stdlib" else base / value, split)
