"""Binary mode: llama.cpp's own tools on a device, on x86 and on an emulated ARM board.

The tools are built from the llama.cpp source in the pinned llama-cpp-python
sdist by scripts/build_llama_tools.py: for this machine, and cross-compiled for
aarch64 (dotprod + i8mm) with Debian's g++-aarch64-linux-gnu, then run under
qemu-user. Both builds are cached outside the repository, so only the first
run pays for them. Every number parsed here is the tools' real output.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sshd import LoopbackSshd, sshd_available

ROOT = Path(__file__).resolve().parent.parent
LOOSE = Path(__file__).parent / "data" / "loose-target.toml"
FAKE_ADB = Path(__file__).parent / "fake_adb" / "adb"
QEMU = "qemu-aarch64 -cpu max"
CTX = 128  # 4 chunks of 128 from 512 tokens: 4 x 63 = 252 scored positions, past the tool's 100


def _build(arch: str) -> Path:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_llama_tools.py"), "--arch", arch, "--print-dir"],
                         capture_output=True, text=True)
    if res.returncode:
        pytest.fail(f"building llama.cpp's tools for {arch} failed:\n{res.stderr[-3000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def host_tools() -> Path:
    return _build(platform.machine())


@pytest.fixture(scope="session")
def arm_tools() -> Path:
    missing = [t for t in ("aarch64-linux-gnu-g++", "qemu-aarch64") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/install_test_tools.sh installs Debian's packages)")
    return _build("aarch64")


def _target(tmp_path: Path, name: str, device: str, quant: str) -> Path:
    body = LOOSE.read_text().replace('name = "loose"', f'name = "{name}"').partition("[[artifacts]]")[0]
    p = tmp_path / f"{name}.toml"
    p.write_text(body + f'[[artifacts]]\nformat = "gguf"\nquant = "{quant}"\n\n' + device)
    return p


def _verify(cli, tmp_path, art, ref, target) -> dict:
    out = tmp_path / f"{target.stem}.json"
    res = cli("verify", art, "--reference", ref, "--target", target, "--max-tokens", "512", "--ctx", str(CTX),
              "--runs", "1", "--json", out)
    assert out.exists(), res.output
    return {"exit": res.exit_code, "output": res.output, **json.loads(out.read_text())}


def _own_kl_second_halves(gguf: Path, loaded_ref, n_chunks: int) -> tuple[float, float]:
    """edgeslm's own KL and top-1 for the same artifact, from llama-cpp-python's logits, on the positions
    llama-perplexity scores: the second half of each chunk."""
    from edgeslm.devices.llama_tools import scored_positions
    from edgeslm.runners.base import RunnerOptions, load_runner
    from edgeslm.runners.torch import TorchRunner
    from edgeslm.verify import _bos
    from edgeslm.verify.accuracy import AccuracyAccumulator

    ref = TorchRunner(loaded_ref)
    from edgeslm.data import default_eval_text

    ids = ref.tokenize(default_eval_text().text)[:512]
    bos = _bos(loaded_ref)
    step = CTX - len(bos)
    chunks = [c for c in (bos + ids[i : i + step] for i in range(0, len(ids), step)) if len(c) == CTX][:n_chunks]
    rt = load_runner(gguf, RunnerOptions(threads=2, n_ctx=CTX + 8))
    pos = scored_positions(CTX)
    acc = AccuracyAccumulator()
    for c in chunks:
        r, a = ref.logits(c), rt.logits(c)
        acc.add(r[pos.start : pos.stop], a[pos.start : pos.stop], np.asarray(c[pos.start + 1 : pos.stop + 1]))
    rt.close()
    s = acc.result()
    return s.mean_kl, s.top1_agreement


def test_the_kl_base_file_is_what_llama_perplexity_reads(cli, tmp_path, tiny, gguf_file, host_tools):
    """An F32 GGUF against edgeslm's base file from the PyTorch reference: KL ~ 0 and the same top token everywhere.
    A wrong layout (header, row size, scale/min order, the scored half) gives garbage or no summary instead."""
    dev = f'[device]\nkind = "local"\nmode = "binary"\ntools_from = "{host_tools}"\n'
    r = _verify(cli, tmp_path, gguf_file("llama", "F32"), tiny("llama"), _target(tmp_path, "x86-tools", dev, "F32"))
    assert r["failure"] is None, r["output"]
    acc = r["accuracy"]
    assert acc["positions"] == 4 * (CTX - 1 - CTX // 2)
    # F32 GGUF logits equal PyTorch's within ~1e-4; the base file's 16-bit log-probs add ~2e-4 steps: KL << 1e-3
    assert 0 <= acc["mean_kl"] < 1e-3 and acc["top1_agreement"] >= 0.99
    assert r["speed"]["decode_tps"] > 0 and r["runtime"]["mode"] == "binary"


def test_binary_mode_kl_agrees_with_edgeslm_kl_on_the_same_positions(cli, tmp_path, tiny, gguf_file, loaded,
                                                                     host_tools):
    dev = f'[device]\nkind = "local"\nmode = "binary"\ntools_from = "{host_tools}"\n'
    art = gguf_file("llama", "Q4_0")
    r = _verify(cli, tmp_path, art, tiny("llama"), _target(tmp_path, "x86-q4", dev, "Q4_0"))
    assert r["failure"] is None, r["output"]
    own_kl, own_top1 = _own_kl_second_halves(art, loaded("llama"), 4)
    tool_kl = r["accuracy"]["mean_kl"]
    assert own_kl > 1e-3, "Q4_0 must lose enough for a relative comparison to mean something"
    assert abs(tool_kl - own_kl) <= 0.05 * own_kl, (tool_kl, own_kl)
    assert abs(r["accuracy"]["top1_agreement"] - own_top1) <= 0.02  # ties near the 16-bit grid may flip a few


@pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available()))
def test_an_emulated_arm_board_over_ssh_measures_arm_kernels(cli, tmp_path, tmp_path_factory, tiny, gguf_file,
                                                            arm_tools, host_tools):
    board = LoopbackSshd(tmp_path_factory.mktemp("arm-board")).start()
    try:
        dev = board.device_toml(mode="binary", tools_from=str(arm_tools), emulator=QEMU)
        r = _verify(cli, tmp_path, gguf_file("llama", "Q4_0"), tiny("llama"), _target(tmp_path, "arm-board", dev, "Q4_0"))
    finally:
        board.kill()
    assert r["failure"] is None, r["output"]
    x86 = _verify(cli, tmp_path, gguf_file("llama", "Q4_0"), tiny("llama"), _target(
        tmp_path, "x86-ref", f'[device]\nkind = "local"\nmode = "binary"\ntools_from = "{host_tools}"\n', "Q4_0"))
    assert r["accuracy"]["positions"] == x86["accuracy"]["positions"]
    # other kernels, the same model: the ARM KL is of the x86 one's size, not garbage
    assert 0.5 * x86["accuracy"]["mean_kl"] <= r["accuracy"]["mean_kl"] <= 2 * x86["accuracy"]["mean_kl"]
    assert "emulation" in r["runtime"]["note"] and r["runtime"]["fingerprint"]["emulator"] == QEMU
    assert "aarch64" in r["runtime"]["bench"]["cpu_info"].lower() or r["runtime"]["bench"]["cpu_info"]
    assert all(g["applied"] is False for g in r["gates"] if g["name"] == "min_decode_tps")
    assert str(board.user_key) not in json.dumps(r)


def test_an_adb_phone_stand_in_runs_the_adb_command_sequence(cli, tmp_path, tiny, gguf_file, arm_tools, monkeypatch):
    """No physical phone: tests/fake_adb/adb implements push/shell/pull onto a folder and runs aarch64 under qemu."""
    phone = tmp_path / "phone"
    (phone / "data" / "local" / "tmp").mkdir(parents=True)
    monkeypatch.setenv("FAKE_ADB_ROOT", str(phone))
    dev = f'[device]\nkind = "adb"\nserial = "emulator-5554"\nadb = "{FAKE_ADB}"\ntools_from = "{arm_tools}"\n'
    r = _verify(cli, tmp_path, gguf_file("llama", "Q8_0"), tiny("llama"), _target(tmp_path, "phone", dev, "Q8_0"))
    assert r["failure"] is None, r["output"]
    assert r["runtime"]["measured_on"] == "adb://emulator-5554" and r["accuracy"]["mean_kl"] < 0.05
    # cleaned up: the model, the KL base and the tools copied for this run are gone from the phone
    assert not [p for p in (phone / "data" / "local" / "tmp" / "edgeslm").rglob("*") if p.is_file()]
    other = _target(tmp_path, "absent-phone", dev.replace("emulator-5554", "R58M12345"), "Q8_0")
    gone = _verify(cli, tmp_path, gguf_file("llama", "Q8_0"), tiny("llama"), other)
    assert gone["exit"] == 1 and "not found" in gone["failure"]


def test_tool_output_without_a_summary_is_a_clear_failure(host_tools, gguf_file, tmp_path):
    """llama-perplexity's real output when the base file is not one: the parser says what it saw."""
    from edgeslm.devices.llama_tools import parse_kl_output
    from edgeslm.errors import DeviceError

    bad = tmp_path / "not-a-base.bin"
    bad.write_bytes(b"not logits")
    out = subprocess.run([str(host_tools / "llama-perplexity"), "-m", str(gguf_file("llama", "Q8_0")),
                          "--kl-divergence-base", str(bad), "--kl-divergence", "-c", "128"],
                         capture_output=True, text=True, timeout=120)
    with pytest.raises(DeviceError, match="no KL summary"):
        parse_kl_output(out.stdout + out.stderr)


def test_a_hung_tool_is_a_timed_out_device_not_a_hung_run(cli, tmp_path, tiny, gguf_file, host_tools):
    """A tool that never answers (a real process sleeping) costs its row after --timeout, and is ended."""
    hang = tmp_path / "llama-bench"
    hang.write_text("#!/bin/sh\necho started > \"$0.started\"\nexec sleep 300\n")
    hang.chmod(0o755)
    dev = (f'[device]\nkind = "local"\nmode = "binary"\n[device.tools]\nllama-bench = "{hang}"\n'
           f'llama-perplexity = "{host_tools / "llama-perplexity"}"\n')
    t = _target(tmp_path, "hangs", dev, "Q8_0")
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", t, "--max-tokens", "512",
              "--ctx", str(CTX), "--timeout", "3", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert res.exit_code == 1 and "did not answer within 3 s" in r["failure"] and "while timing" in r["failure"]
    assert Path(f"{hang}.started").exists()
    left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    assert not left, "the hung tool was left running"
