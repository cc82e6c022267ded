"""Verify on a device: a real OpenSSH server on 127.0.0.1 plays the board (agent mode).

The server is Debian's sshd, started here with throw-away host and user keys
(tests/sshd.py). The "board" runs the agent zipapp with this venv's Python, so
its numbers must equal a local verify's: the same runtime on the same CPU, with
only the transport between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sshd import LoopbackSshd, sshd_available

pytestmark = pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available()))

LOOSE = Path(__file__).parent / "data" / "loose-target.toml"
MAX_TOKENS = "256"


def target_with(tmp_path: Path, name: str, device: str) -> Path:
    """The loose test target (host hardware, one GGUF Q8_0) with a [device] table."""
    text = LOOSE.read_text().replace('name = "loose"', f'name = "{name}"')
    body, _, _ = text.partition("[[artifacts]]")
    p = tmp_path / f"{name}.toml"
    p.write_text(body + '[[artifacts]]\nformat = "gguf"\nquant = "Q8_0"\n\n' + device)
    return p


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    sshd = LoopbackSshd(tmp_path_factory.mktemp("board")).start()
    yield sshd
    sshd.kill()


def test_loopback_ssh_verify_equals_local_verify(board, tmp_path, tiny, gguf_file, cli):
    """Agent mode over ssh gives the local numbers: KL within 1e-6, the same top-1, the same tokenizer parity;
    the report says where it was measured and never shows the key."""
    art, ref = gguf_file("llama", "Q8_0"), tiny("llama")
    remote = target_with(tmp_path, "board", board.device_toml())
    res_local = cli("verify", art, "--reference", ref, "--target", LOOSE, "--max-tokens", MAX_TOKENS, "--runs", "1",
                    "--json", tmp_path / "local.json")
    res_remote = cli("verify", art, "--reference", ref, "--target", remote, "--max-tokens", MAX_TOKENS, "--runs", "1",
                     "--json", tmp_path / "remote.json")
    assert res_local.exit_code == 0, res_local.output
    assert res_remote.exit_code == 0, res_remote.output
    local, there = json.loads((tmp_path / "local.json").read_text()), json.loads((tmp_path / "remote.json").read_text())
    assert there["accuracy"]["positions"] == local["accuracy"]["positions"] > 200
    assert abs(there["accuracy"]["mean_kl"] - local["accuracy"]["mean_kl"]) <= 1e-6
    assert there["accuracy"]["top1_agreement"] == local["accuracy"]["top1_agreement"]
    assert there["tokenizer"] == local["tokenizer"] and there["greedy_prefix_match"] == local["greedy_prefix_match"]
    rt = there["runtime"]
    assert rt["measured_on"] == f"ssh://{board.user}@127.0.0.1:{board.port}"
    assert rt["device"]["kind"] == "ssh" and rt["fingerprint"]["uname"].startswith("Linux")
    assert rt["fingerprint"]["cpu_features"], "the CPU's feature flags come from the device's /proc/cpuinfo"
    assert local["runtime"]["measured_on"] == "this host"
    text = (tmp_path / "remote.json").read_text() + res_remote.output
    assert str(board.user_key) not in text and "user_ed25519" not in text
    # cleaned up: nothing of this run, and no artifact, stays in the board's workdir
    left = [p for p in (board.dir / "board").rglob("*") if p.is_file()]
    assert left == [], left


def test_agent_runs_without_torch_or_transformers(tmp_path, gguf_file):
    """The agent needs only Python, numpy and the runtime: it loads and answers with torch and transformers unimportable."""
    from edgeslm.devices.agent import agent_zipapp
    from edgeslm.runners.worker import decode_array

    blocker = (
        "import sys, runpy\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers', 'click', 'safetensors'):\n"
        "            raise ImportError('blocked on the board: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.argv = ['agent', '--inline', '--scratch', {str(tmp_path / 's')!r}]\n"
        f"runpy.run_path({str(agent_zipapp())!r}, run_name='__main__')\n")
    reqs = [{"op": "load", "path": str(gguf_file("llama", "Q8_0")), "format": "gguf",
             "options": {"threads": 1, "kv_cache": "f16", "n_ctx": 64, "runner": ""}},
            {"op": "tokenize", "text": "def f(x):\n    return x"}, {"op": "close"}]
    out = subprocess.run([sys.executable, "-c", blocker], input="".join(json.dumps(r) + "\n" for r in reqs),
                         capture_output=True, text=True, timeout=120)
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["ok"] for a in answers] == [True, True, True], out.stderr[-2000:]
    assert answers[0]["runtime"] == "llama.cpp"
    assert len(decode_array(answers[1]["npy"])) > 3


def test_an_unknown_host_key_is_refused(board, tmp_path, tiny, gguf_file, cli):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = target_with(tmp_path, "stranger", board.device_toml(known_hosts=empty))
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", t,
              "--max-tokens", MAX_TOKENS, "--runs", "1", "--json", tmp_path / "r.json")
    assert res.exit_code == 1
    report = (tmp_path / "r.json").read_text()
    assert "host key is not trusted" in json.loads(report)["failure"]
    assert "accept_new_host_key" in res.output  # the way to opt in is named
    assert str(board.user_key) not in report + res.output and str(empty) not in report + res.output
    assert empty.read_text() == "", "a refused key is not written to known_hosts"


def test_accept_new_host_key_is_an_opt_in_per_device(board, tmp_path):
    from edgeslm.devices import open_device
    from edgeslm.targets import load_target

    kh = tmp_path / "known_hosts"
    kh.write_text("")
    t = load_target(target_with(tmp_path, "trusting", board.device_toml(known_hosts=kh, accept_new_host_key=True)))
    assert open_device(t.device).shell("echo ready").strip() == "ready"
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{board.port}", "-f", str(kh)], capture_output=True, text=True)
    assert board.host_key.with_suffix(".pub").read_text().split()[1] in found.stdout  # the server's own key, recorded


def test_staging_copies_only_what_the_device_lacks(board, tmp_path):
    """sha256 on the device decides: a second stage copies nothing, a changed file on the device is copied again."""
    from edgeslm.devices import open_device
    from edgeslm.targets import load_target

    art = tmp_path / "model"
    art.mkdir()
    (art / "a.bin").write_bytes(b"a" * 5000)
    (art / "b.bin").write_bytes(b"b" * 7000)
    dev = open_device(load_target(target_with(tmp_path, "b", board.device_toml(keep_artifacts=True))).device)
    pushed = []
    push = dev.push
    dev.push = lambda local, remote: (pushed.append(Path(local).name), push(local, remote))  # count, then copy for real
    there = dev.stage(art)
    assert sorted(pushed) == ["a.bin", "b.bin"]
    pushed.clear()
    assert dev.stage(art) == there and pushed == []
    Path(there, "b.bin").write_bytes(b"corrupted")  # the board is this machine: change the device's copy
    dev.stage(art)
    assert pushed == ["b.bin"] and Path(there, "b.bin").read_bytes() == b"b" * 7000


def test_profiles_hold_no_passwords(tmp_path):
    from edgeslm.errors import TargetError
    from edgeslm.targets import load_target

    t = target_with(tmp_path, "pw", '[device]\nkind = "ssh"\nhost = "pi.local"\npassword = "hunter2"\n')
    with pytest.raises(TargetError, match="no passwords"):
        load_target(t)


def test_a_device_profile_measured_on_the_host_says_so_and_does_not_gate_speed(tmp_path, tiny, gguf_file, cli):
    """A device profile (no "auto" hardware) with no [device]: measured on the host, not on it; speed gates shown only."""
    text = LOOSE.read_text().replace('arch = "auto"', 'arch = "aarch64"').replace('isa = "auto"', 'isa = ["neon"]')
    t = tmp_path / "boardlike.toml"
    t.write_text(text.replace("min_decode_tps = 1.0", "min_decode_tps = 1e9"))
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", t,
              "--max-tokens", MAX_TOKENS, "--runs", "1", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert "measured on the host, not on loose" in r["runtime"]["note"]
    speed = next(g for g in r["gates"] if g["name"] == "min_decode_tps")
    assert speed["applied"] is False and speed["passed"] is False
    assert res.exit_code == 0, res.output  # the unmet speed gate is not applied
    assert "not applied" in res.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: nothing listens there


def test_a_fleet_with_an_unreachable_device_fails_only_its_rows(board, tmp_path, tiny, gguf_file, cli):
    good = target_with(tmp_path, "lab-board", board.device_toml())
    gone = target_with(tmp_path, "gone-board", board.device_toml().replace(f"port = {board.port}", f"port = {_closed_port()}"))
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", good, "--target", gone,
              "--max-tokens", MAX_TOKENS, "--runs", "1", "--json", tmp_path / "fleet.json")
    assert res.exit_code == 1
    fleet = json.loads((tmp_path / "fleet.json").read_text())
    assert fleet["targets"] == ["lab-board", "gone-board"] and fleet["passed"] is False
    ok, bad = fleet["reports"]
    assert ok["passed"] and ok["failure"] is None and ok["accuracy"]["positions"] > 200
    assert bad["passed"] is False and "unreachable" in bad["failure"] and "Connection refused" in bad["failure"]
    assert "gone-board (failed:" in res.output and "lab-board" in res.output
    assert str(board.user_key) not in (tmp_path / "fleet.json").read_text() + res.output


def test_a_board_that_dies_mid_run_fails_its_rows_while_another_finishes(tmp_path_factory, tmp_path, tiny, gguf_file,
                                                                          loaded):
    """The ssh server of one board is killed (with its sessions) while that board is being timed."""
    from edgeslm.data import TextSet
    from edgeslm.export import open_artifact
    from edgeslm.targets import load_target
    from edgeslm.verify import VerifyOptions
    from edgeslm.verify.fleet import verify_fleet

    steady = LoopbackSshd(tmp_path_factory.mktemp("steady")).start()
    doomed = LoopbackSshd(tmp_path_factory.mktemp("doomed")).start()
    try:
        targets = [load_target(target_with(tmp_path, "steady", steady.device_toml())),
                   load_target(target_with(tmp_path, "doomed", doomed.device_toml()))]
        killed = []

        def progress(msg: str) -> None:
            if msg.startswith("doomed: timing") and not killed:
                killed.append(msg)
                doomed.kill()

        text = TextSet.of("\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(200)), "inline")
        fleet = verify_fleet(open_artifact(gguf_file("llama", "Q8_0")), loaded("llama"), targets, text,
                             options=VerifyOptions(max_tokens=256, runs=1, timeout_s=60), progress=progress)
    finally:
        steady.kill()
        doomed.kill()
    assert killed, "the doomed board was never timed"
    ok, dead = fleet.reports
    assert ok.passed and ok.accuracy is not None
    assert not dead.passed and dead.accuracy is None and "while timing" in dead.failure
    assert not fleet.passed


def test_a_recipe_builds_for_two_devices_and_one_failing_costs_only_its_rows(board, tmp_path, tiny, cli):
    good = target_with(tmp_path, "lab-board", board.device_toml())
    gone = target_with(tmp_path, "gone-board", board.device_toml().replace(f"port = {board.port}", f"port = {_closed_port()}"))
    (tmp_path / "eval.txt").write_text("\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(150)))
    recipe = tmp_path / "fleet.toml"
    recipe.write_text(f'teacher = "{tiny("llama")}"\noutput = "{tmp_path / "run"}"\n[data]\neval = "eval.txt"\n'
                      f'[[targets]]\ntarget = "{good}"\n[[targets]]\ntarget = "{gone}"\n')
    res = cli("run", recipe)
    assert res.exit_code == 1, res.output
    man = json.loads((tmp_path / "run" / "manifest.json").read_text())
    by_target = {a["target"]: a for a in man["artifacts"]}
    assert by_target["lab-board"]["passed"] is True
    assert by_target["gone-board"]["passed"] is False and "unreachable" in by_target["gone-board"]["failure"]
    everything = "".join(p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*")
                         if p.is_file() and p.suffix in (".json", ".md", ".html"))
    assert str(board.user_key) not in everything and "user_ed25519" not in everything


def test_a_device_without_room_is_refused_before_copying(board, tmp_path, tiny, gguf_file, cli):
    """The board's workdir is a real tmpfs half the model's size: the check on `df` refuses the copy, naming both sizes."""
    small = tmp_path / "small"
    small.mkdir()
    art = gguf_file("llama", "Q8_0")
    half_kib = max(16, art.stat().st_size // 2048)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={half_kib}k", "tmpfs", str(small)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root with CAP_SYS_ADMIN")
    try:
        t = target_with(tmp_path, "full-board", board.device_toml().replace(str(board.dir / "board"), str(small)))
        res = cli("verify", art, "--reference", tiny("llama"), "--target", t,
                  "--max-tokens", MAX_TOKENS, "--runs", "1", "--json", tmp_path / "r.json")
        failure = json.loads((tmp_path / "r.json").read_text())["failure"]
        assert res.exit_code == 1 and "MiB free under" in failure and "needs" in failure
        assert not [p for p in small.rglob("*") if p.is_file()], "nothing was copied"
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_a_folder_artifact_verifies_over_ssh_like_here(board, tmp_path, tiny, folder_artifact, cli):
    """An ONNX folder (model, weights, genai_config, tokenizer) is staged file by file and runs in the agent."""
    art = folder_artifact("llama", "onnx", "int8")
    body = LOOSE.read_text().partition("[[artifacts]]")[0].replace('name = "loose"', 'name = "onnx-board"')
    t = tmp_path / "onnx-board.toml"
    t.write_text(body + '[[artifacts]]\nformat = "onnx"\nquant = "int8"\n\n' + board.device_toml())
    here, there = tmp_path / "here.json", tmp_path / "there.json"
    assert cli("verify", art, "--reference", tiny("llama"), "--target", LOOSE, "--max-tokens", MAX_TOKENS, "--runs", "1",
               "--json", here).exit_code in (0, 1)
    res = cli("verify", art, "--reference", tiny("llama"), "--target", t, "--max-tokens", MAX_TOKENS, "--runs", "1",
              "--json", there)
    a, b = json.loads(here.read_text()), json.loads(there.read_text())
    assert b["failure"] is None, res.output
    assert abs(a["accuracy"]["mean_kl"] - b["accuracy"]["mean_kl"]) <= 1e-6
    assert b["runtime"]["measured_on"].startswith("ssh://") and b["tokenizer"] == a["tokenizer"]
