"""Every runtime runs in its own process: a crash, a hang or an out-of-memory kill costs one row.

The failing runtimes are real processes failing for real (tests/plugins/
faulty_runtimes.py): an invalid memory read (SIGSEGV), a sleep past the
timeout, exit status 137, SIGKILL, and abort() while loading.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from edgeslm.errors import RuntimeFailure
from edgeslm.runners import open_runner
from edgeslm.runners.process import describe_exit

PLUGINS = Path(__file__).parent / "plugins"
FAULTY_TARGET = Path(__file__).parent / "data" / "faulty-target.toml"
# Generous for a tiny model (load + one timed run take < 2 s here), short enough that the hang test is cheap.
HANG_TIMEOUT_S = 10


@pytest.fixture()
def faulty_runtimes(monkeypatch):
    """Make the failing runners importable here and in every runtime process started from here."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("EDGESLM_PLUGINS", "faulty_runtimes")


def _workers() -> list[psutil.Process]:
    """Runtime processes started by this test process that are still alive."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "edgeslm.runners.worker" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.parametrize(("code", "says"), [
    (-signal.SIGSEGV, "crashed (SIGSEGV)"), (-signal.SIGILL, "crashed (SIGILL)"), (-signal.SIGABRT, "crashed (SIGABRT)"),
    (-signal.SIGKILL, "killed (SIGKILL), most likely by the out-of-memory killer"),
    (137, "status 137 (killed, most likely out of memory)"), (1, "exited unexpectedly with status 1"),
])
def test_exit_statuses_read_as_people_say_them(code, says):
    assert says in describe_exit(code)


def test_build_survives_a_crash_a_hang_and_two_oom_kills(cli, tiny, tmp_path, faulty_runtimes):
    out = tmp_path / "out"
    res = cli("build", tiny("llama"), "--target", FAULTY_TARGET, "-o", out, "--max-tokens", "256", "--ctx", "128", "--runs", "1",
              "--timeout", str(HANG_TIMEOUT_S))
    assert res.exit_code == 1, res.output
    assert {"report.json", "report.md", "manifest.json", "logs"} <= {p.name for p in out.iterdir()}

    rows = {a["quant"]: a for a in json.loads((out / "report.json").read_text())["artifacts"]}
    healthy = rows.pop("Q8_0")
    assert healthy["passed"], (healthy["gates"], healthy["failure"])
    assert healthy["failure"] is None and healthy["accuracy"]["positions"] > 0
    expected = {
        "Q4_K_M": "segv-on-logits crashed (SIGSEGV) while evaluating window 1 of 2",
        "Q4_0": f"hang-on-logits hung: no answer within {HANG_TIMEOUT_S} s while evaluating window 1 of 2",
        "Q6_K": "exit137-on-logits exited with status 137 (killed, most likely out of memory) while evaluating window 1",
        "Q5_K_M": "sigkill-on-logits was killed (SIGKILL), most likely by the out-of-memory killer while evaluating",
    }
    for quant, says in expected.items():
        row = rows[quant]
        assert not row["passed"] and says in row["failure"], row["failure"]
        log = Path(row["failure"].split("its log: ")[1])
        assert log.parent == out / "logs" and log.is_file()
        # timing ran before the failure and is kept; accuracy never came
        assert row["speed"]["decode_tps"] > 0 and row["accuracy"] is None

    assert "segv-on-logits crashed (SIGSEGV)" in (out / "report.md").read_text()
    man = json.loads((out / "manifest.json").read_text())
    assert [a["passed"] for a in man["artifacts"]] == [True, False, False, False, False]
    assert "crashed (SIGSEGV)" in res.stdout and "FAIL: runtime" in res.stdout
    assert _workers() == []


def test_verify_exits_1_with_the_crash_message(cli, tiny, gguf_file, faulty_runtimes):
    res = cli("verify", gguf_file("llama", "Q4_K_M"), "--reference", tiny("llama"), "--target", FAULTY_TARGET,
              "--max-tokens", "64", "--runs", "1")
    assert res.exit_code == 1
    assert "segv-on-logits crashed (SIGSEGV) while evaluating window 1 of 1; its log: " in res.stderr
    assert "Traceback" not in res.output


def test_a_crash_while_loading_is_a_runtime_failure(gguf_file, faulty_runtimes):
    with pytest.raises(RuntimeFailure) as e:
        open_runner(gguf_file("llama", "Q8_0"), threads=1, runner="abort-on-load")
    assert "abort-on-load crashed (SIGABRT) while loading the artifact" in str(e.value)
    assert Path(e.value.log).is_file()  # a failure keeps its log
    assert _workers() == []


def test_logits_cross_the_boundary_exactly(gguf_file):
    """Arrays travel as .npy files: the child's float32 logits arrive bit for bit, and the scratch folder goes."""
    from edgeslm.runners.base import RunnerOptions, load_runner

    path = gguf_file("llama", "Q8_0")
    ids = list(range(5, 45))
    local = load_runner(path, RunnerOptions(threads=1, kv_cache="f32"))
    try:
        expected = local.logits(ids)
    finally:
        local.close()
    with open_runner(path, threads=1, kv_cache="f32") as rt:
        got = rt.logits(ids)
        scratch = rt.scratch
        assert rt.tokenize("def f(x):\n    return x") == local.tokenize("def f(x):\n    return x")
    assert got.dtype == expected.dtype and (got == expected).all()
    assert not scratch.exists()


def _start_verify(tiny, gguf_file, tmp_path):
    cmd = [sys.executable, "-m", "edgeslm", "verify", str(gguf_file("llama", "Q4_0")), "--reference", str(tiny("llama")),
           "--target", str(FAULTY_TARGET), "--max-tokens", "64", "--runs", "1", "--timeout", "600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until its runtime is hanging in logits
        kids = [p for p in psutil.Process(proc.pid).children(recursive=True) if "runners.worker" in " ".join(p.cmdline())]
        if kids and kids[0].cpu_times().user > 0 and "accuracy over" in _peek_stderr(proc, tmp_path):
            return proc, kids[0]
        time.sleep(0.2)
    proc.kill()
    pytest.fail("verify never started its runtime process")


def _peek_stderr(proc, tmp_path) -> str:
    # stderr is a pipe: read what is there without blocking
    import fcntl

    fd = proc.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = proc.stderr.read() or ""
    except (BlockingIOError, TypeError):
        chunk = ""
    buf = tmp_path / "stderr.txt"
    text = (buf.read_text() if buf.exists() else "") + chunk
    buf.write_text(text)
    return text


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_verify_ends_the_runtime_too(sig, code, tiny, gguf_file, tmp_path, faulty_runtimes):
    proc, worker = _start_verify(tiny, gguf_file, tmp_path)
    cmdline = worker.cmdline()
    scratch = Path(cmdline[cmdline.index("--scratch") + 1])
    assert scratch.is_dir()
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    worker.wait(timeout=10)  # raises TimeoutExpired if the runtime process outlived edgeslm
    assert not scratch.exists()
    assert "Traceback" not in _peek_stderr(proc, tmp_path)
