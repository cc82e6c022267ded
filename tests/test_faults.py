"""Interrupts and full disks: a real signal to a real running command, and a real full filesystem.

Every case ends with the documented exit code and nothing left behind: no
partial files, no child processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-teacher"


@pytest.fixture()
def small_disk(tmp_path):
    """small_disk(kib) -> a folder on a tmpfs of that size; skipped where this test cannot mount one."""
    mounts = []

    def make(kib: int) -> Path:
        d = tmp_path / f"disk{len(mounts)}"
        d.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(d)], capture_output=True, text=True)
        if res.returncode:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {res.stderr.strip()}")
        mounts.append(d)
        return d

    yield make
    for d in mounts:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _edgeslm(*args, **kw):
    return subprocess.run([sys.executable, "-m", "edgeslm", *map(str, args)], capture_output=True, text=True, **kw)


@pytest.mark.parametrize(("quant", "kib"), [("F32", 256), ("Q8_0", 700)], ids=["writing-f32", "quantizing"])
def test_export_onto_a_full_disk(tiny, small_disk, quant, kib):
    """256 KiB cannot hold the 530 KiB F32 file; 700 KiB holds it but not the quantized copy beside it."""
    disk = small_disk(kib)
    res = _edgeslm("export", tiny("llama"), "--quant", quant, "-o", disk / "m.gguf")
    assert res.returncode == 2, res.stderr
    assert "no space left on the device" in res.stderr and "Traceback" not in res.stderr
    assert list(disk.iterdir()) == []


def test_prune_onto_a_full_disk(tiny, small_disk):
    disk = small_disk(128)
    res = _edgeslm("prune", tiny("llama"), "-o", disk / "p", "--drop-layers", "1", "--calib-samples", "2", "--seq-len", "32")
    assert res.returncode == 2, res.stderr
    assert "no space left" in res.stderr and "Traceback" not in res.stderr
    assert list(disk.iterdir()) == []


def _children(pid: int, needle: str) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if needle in " ".join(k.cmdline()):
                out.append(k)
        except psutil.NoSuchProcess:
            pass
    return out


def _export_until_quantizing(out: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """Start a real export of the demo teacher and return once llama.cpp's quantizer process runs."""
    proc = subprocess.Popen([sys.executable, "-m", "edgeslm", "export", str(DEMO), "--quant", "Q4_K_M", "-o",
                             str(out / "m.gguf")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    quantizer = []
    while not quantizer and proc.poll() is None and time.monotonic() < deadline:
        quantizer = _children(proc.pid, "edgeslm.quantize.llama_quantize")
        time.sleep(0.01)
    assert quantizer, "the export finished before its quantizer was seen"
    return proc, quantizer


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_gguf_quantization_stops_it_and_leaves_nothing(tmp_path, sig, code):
    """Ctrl-C used to be swallowed by llama.cpp's log callback: the export finished and exited 0."""
    out = tmp_path / "out"
    out.mkdir()
    proc, quantizer = _export_until_quantizing(out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    psutil.wait_procs(quantizer, timeout=10)
    assert not any(q.is_running() and q.status() != psutil.STATUS_ZOMBIE for q in quantizer)
    assert list(out.iterdir()) == []  # no .partial F32 intermediate, no half-quantized file


def test_unexpected_errors_say_they_are_bugs_and_exit_3(cli, monkeypatch, tiny):
    import edgeslm.models.summary as summary

    def broken(ckpt):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(summary, "describe", broken)
    res = cli("inspect", tiny("llama"))
    assert res.exit_code == 3
    assert "unexpected ZeroDivisionError in `edgeslm inspect`" in res.stderr
    assert "this is a bug in edgeslm: run again with --debug and report it" in res.stderr
    assert "Traceback" not in res.output


def test_the_quantizer_process_ends_with_edgeslm_even_on_sigkill(tmp_path):
    """SIGKILL cannot be handled: the quantizer's parent-death signal ends it instead."""
    out = tmp_path / "out"
    out.mkdir()
    proc, quantizer = _export_until_quantizing(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    gone, alive = psutil.wait_procs(quantizer, timeout=10)
    assert not alive
