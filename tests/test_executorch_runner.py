"""Binary mode for ExecuTorch: its own runner, llama_main, on a device.

llama_main is compiled from the vendored source (third_party/executorch_llama_main)
against the installed executorch wheel by scripts/build_executorch_runner.py,
once, and cached outside the repository. tests/data/llama_main/ holds its real
output, recorded from this build on the tiny llama model's 8da4w program:

    llama_main --model_path model.pte --tokenizer_path tokenizer.json \\
        --prompt "The quick brown fox jumps over the lazy dog." --temperature 0 \\
        --max_new_tokens 24 --cpu_threads 2 --num_bos 0 --num_eos 0 --ignore_eos

and stderr-broken-tokenizer.txt from the same program given a tokenizer.json
that is not one (the runner aborts with status 134).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sshd import LoopbackSshd, sshd_available

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "llama_main"
LOOSE = Path(__file__).parent / "data" / "loose-target.toml"
PROMPT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="session")
def runner_prefix() -> Path:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_executorch_runner.py"), "--print-dir"],
                         capture_output=True, text=True)
    if res.returncode:
        pytest.fail(f"building llama_main failed:\n{res.stderr[-3000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


def _target(tmp_path: Path, name: str, quant: str, device: str) -> Path:
    body = LOOSE.read_text().replace('name = "loose"', f'name = "{name}"').partition("[[artifacts]]")[0]
    p = tmp_path / f"{name}.toml"
    p.write_text(body + f'[[artifacts]]\nformat = "executorch"\nquant = "{quant}"\n\n' + device)
    return p


def _verify(cli, tmp_path, art, ref, target) -> dict:
    out = tmp_path / f"{target.stem}.json"
    res = cli("verify", art, "--reference", ref, "--target", target, "--max-tokens", "512", "--runs", "2", "--json", out)
    assert out.exists(), res.output
    return {"exit": res.exit_code, "output": res.output, **json.loads(out.read_text())}


def test_the_stats_line_text_and_rss_parse_from_real_output(tiny):
    from transformers import AutoTokenizer

    from edgeslm.devices.executorch_tools import generated_text, parse_observer, peak_rss_mib

    out = (DATA / "stdout.txt").read_text()
    s = parse_observer(out)
    # the runner's own rates, when its spans are non-zero, are what edgeslm computes from the stamps
    assert s["prefill_tps"] == pytest.approx(s["raw"]["prefill_token_per_sec"], rel=1e-3)
    assert s["decode_tps"] == pytest.approx(s["raw"]["decode_token_per_sec"], rel=1e-3)
    # 24 new tokens asked for: one from the prefill, 23 decode steps in "generated_tokens"
    assert s["generated_tokens"] == 23
    # llama_main's tokenizer.json reading gives the reference tokenizer's count for the prompt
    assert s["prompt_tokens"] == len(AutoTokenizer.from_pretrained(tiny("llama")).encode(PROMPT, add_special_tokens=False))
    text = generated_text(out, PROMPT)
    assert text and "PyTorchObserver" not in text and not text.endswith("\n")
    assert peak_rss_mib((DATA / "stderr.txt").read_text()) == pytest.approx(11.480469)


def test_a_runner_failure_is_its_reason_not_a_stack_of_logs():
    from edgeslm.devices.executorch_tools import ERR_MARK, RC_MARK, split_result
    from edgeslm.errors import DeviceError

    err = (DATA / "stderr-broken-tokenizer.txt").read_text()
    with pytest.raises(DeviceError) as e:
        split_result(f"\n{RC_MARK}134\n{ERR_MARK}\n{err}")
    assert "status 134" in e.value.message and "input length must be larger than 4" in e.value.message
    assert "std::bad_alloc" in e.value.message
    with pytest.raises(DeviceError, match="cut off"):
        split_result("The quick brown")  # the link dropped before the status came back
    assert split_result(f"hello\nPyTorchObserver {{}}\n\n{RC_MARK}0\n{ERR_MARK}\nI log\n") == (
        "hello\nPyTorchObserver {}\n", "I log\n")


@pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available()))
def test_fp32_program_on_a_board_over_ssh_reproduces_the_reference_greedy_text(
        cli, tmp_path, tmp_path_factory, tiny, folder_artifact, runner_prefix):
    """tools_from copies the whole runner prefix (bin/ and lib/) to the board; llama_main's greedy text from
    an fp32 program equals PyTorch's token for token (logits agree to ~1e-5, far below any real tie)."""
    board = LoopbackSshd(tmp_path_factory.mktemp("et-board")).start()
    try:
        dev = board.device_toml(mode="binary", tools_from=str(runner_prefix))
        r = _verify(cli, tmp_path, folder_artifact("llama", "executorch", "fp32"), tiny("llama"),
                    _target(tmp_path, "et-board", "fp32", dev))
        left = [p for p in (board.dir / "board").rglob("*") if p.is_file()]
    finally:
        board.kill()
    assert r["failure"] is None and r["exit"] == 0, r["output"]
    assert r["runtime"]["mode"] == "binary" and r["runtime"]["name"] == "ExecuTorch (llama_main)"
    assert r["runtime"]["measured_on"].startswith("ssh://")
    assert r["greedy_prefix_match"] == r["greedy_tokens"] == 32, r["runtime"]["greedy_text"]
    sp = r["speed"]
    assert sp["prompt_tokens"] == 128 and sp["decode_tps"] > 0 and sp["prefill_tps"] > 0 and sp["peak_rss_mib"] > 0
    # no logits from llama_main: accuracy is unmeasured and says so, never a made-up number
    assert r["accuracy"] is None and "no logits" in r["runtime"]["unmeasured"]
    assert any(g["name"] == "min_decode_tps" and g["applied"] for g in r["gates"])
    assert str(board.user_key) not in json.dumps(r)
    assert not left, f"left on the board: {left}"


def test_a_broken_program_costs_its_row_with_the_runner_reason(cli, tmp_path, tiny, folder_artifact, runner_prefix):
    """A real llama_main crash (a tokenizer.json that is not one) fails that row, with the runner's words."""
    art = tmp_path / "llama-executorch-8da4w"
    shutil.copytree(folder_artifact("llama", "executorch", "8da4w"), art)
    (art / "tokenizer.json").write_text('{"version": "1.0", "model": {}}')
    dev = f'[device]\nkind = "local"\nmode = "binary"\n[device.tools]\nllama_main = "{runner_prefix / "bin" / "llama_main"}"\n'
    r = _verify(cli, tmp_path, art, tiny("llama"), _target(tmp_path, "et-broken", "8da4w", dev))
    assert r["exit"] == 1
    assert "llama_main failed with status 134" in r["failure"] and "while timing" in r["failure"]
