"""Every row of README's "Bad input and faults" table is run here, as written there.

A row gives a command with placeholders, the exit code and an excerpt of the
message. Placeholders: CKPT (a good tiny Llama), QWEN (a tiny Qwen2 with
another tokenizer), GGUF (CKPT as Q8_0), DEMO (the demo teacher), TMP (an
empty folder of the row's own), RO (a read-only folder), FULLDISK (a 256 KiB
tmpfs), and the names in tests/bad_inputs.py. A row that starts with SIGINT or
SIGTERM runs the command in a real process and sends it that signal while
llama.cpp's quantizer runs. Every row must also end with no traceback and,
unless it is the point of the row, nothing written.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bad_inputs import MATERIALS

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"


def _rows() -> list[tuple[str, str, int, str]]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index(START) + len(START): text.index(END)]
    rows = []
    for line in table.strip().splitlines()[2:]:  # header and rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        num, area, cmd, code, msg = cells
        rows.append((f"{num}-{area}", cmd.strip("`"), int(code), msg.strip("`").replace("\\|", "|")))
    return rows


ROWS = _rows()
FIXED = ("CKPT", "QWEN", "GGUF", "DEMO", "TMP", "RO", "FULLDISK")
PLACEHOLDER = re.compile(r"\b(" + "|".join([*FIXED, *MATERIALS]) + r")\b")


def test_the_table_has_at_least_60_rows_across_every_area():
    assert len(ROWS) >= 60
    areas = {r[0].split("-", 1)[1] for r in ROWS}
    assert {"checkpoint", "data", "option", "target", "artifact", "output", "disk", "signal"} <= areas


@pytest.fixture(scope="module")
def fulldisk_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fulldisk")


@pytest.mark.parametrize(("row", "command", "code", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_row(row, command, code, message, tiny, gguf_file, tmp_path, readonly_dir, request):
    work = tmp_path / "work"
    work.mkdir()
    made = tmp_path / "made"
    made.mkdir()
    values: dict[str, Path] = {}

    def value(name: str) -> str:
        if name not in values:
            values[name] = _make(name, made, tiny, gguf_file, readonly_dir, work, request)
        return str(values[name])

    words = [PLACEHOLDER.sub(lambda m: value(m.group(1)), w) for w in shlex.split(command)]
    sig = None
    if words[0] in ("SIGINT", "SIGTERM"):
        sig, words = getattr(signal, words[0]), words[1:]
    assert words[0] == "edgeslm"
    before = _snapshot(values)
    out, got = _run_with_signal(words[1:], sig) if sig else _run(words[1:])
    assert got == code, out
    assert message in out, out
    assert "Traceback" not in out
    if code == 2:  # refused: nothing written anywhere it pointed, and the inputs are untouched
        assert _snapshot(values) == before
        assert [p.name for p in work.iterdir()] == [], "a refused command wrote into TMP"


def _make(name, made, tiny, gguf_file, readonly_dir, work, request) -> Path:
    if name == "CKPT":
        return tiny("llama")
    if name == "QWEN":
        return tiny("qwen2")
    if name == "GGUF":
        return gguf_file("llama", "Q8_0")
    if name == "DEMO":
        return ROOT / "examples" / "demo-teacher"
    if name == "TMP":
        return work
    if name == "RO":
        return readonly_dir
    if name == "FULLDISK":
        return _tmpfs(made / "disk", 256, request)
    return MATERIALS[name](made, tiny("llama"), gguf_file("llama", "Q8_0"))


def _tmpfs(d: Path, kib: int, request) -> Path:
    d.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(d)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {res.stderr.strip()}")
    request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(d)], check=False))
    return d


def _snapshot(values: dict[str, Path]) -> dict[str, tuple]:
    """Names, sizes and mtimes of every file under the row's paths (inputs and outputs alike)."""
    snap = {}
    for p in values.values():
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else []
        for f in files:
            st = f.stat()
            snap[str(f)] = (st.st_size, st.st_mtime_ns)
    return snap


def _run(args: list[str]) -> tuple[str, int]:
    from click.testing import CliRunner

    from edgeslm.cli import main

    res = CliRunner().invoke(main, args, catch_exceptions=False)
    return res.output, res.exit_code


def _run_with_signal(args: list[str], sig: int) -> tuple[str, int]:
    proc = subprocess.Popen([sys.executable, "-m", "edgeslm", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        kids = [k for k in psutil.Process(proc.pid).children(recursive=True)
                if "edgeslm.quantize.llama_quantize" in " ".join(_cmdline(k))]
        if kids:
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    out, _ = proc.communicate(timeout=60)
    return out, proc.returncode


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []
