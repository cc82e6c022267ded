"""edgeslm distill on tiny models: it learns the teacher, and bad pairs are refused."""

import json
import math

import numpy as np
import pytest
import torch

from edgeslm.models.tiny import TinyConfig, build_tiny_model, train_tokenizer

TEXT = "\n".join(f"def f{i}(x, y):\n    return x * {i % 7} + y  # {i}\n" for i in range(400))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A teacher and a smaller student that share one tokenizer."""
    d = tmp_path_factory.mktemp("distill")
    tok = train_tokenizer("gpt2", 256, TEXT)
    teacher = build_tiny_model(TinyConfig(hidden_size=64, num_layers=2, seed=1), d / "teacher", tokenizer=tok)
    _fit(teacher, tok)  # a peaked teacher, like a real one: a random one is near uniform
    student = build_tiny_model(TinyConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                                          seed=2), d / "student", tokenizer=tok)
    data = d / "data.txt"
    data.write_text(TEXT)
    return teacher, student, data


def _fit(folder, tok, steps=40):
    from edgeslm.models.loader import load_model
    from edgeslm.train.batches import TokenWindows
    from edgeslm.train.loop import TrainConfig, train

    m = load_model(folder).model.float()
    cfg = TrainConfig(max_steps=steps, batch_size=8, seq_len=32, lr=1e-2, warmup_steps=4, ckpt_every=steps)
    ids = np.asarray(tok.encode(TEXT).ids)
    train(m, TokenWindows(ids, cfg), cfg, folder / "fit-run", progress=lambda _: None)
    import shutil

    shutil.rmtree(folder / "fit-run")
    m.save_pretrained(folder, safe_serialization=True)


def _kl_to_teacher(teacher_dir, student_dir, text) -> float:
    from edgeslm.models.loader import load_model

    t, s = load_model(teacher_dir), load_model(student_dir)
    ids = torch.tensor([t.tokenizer.encode(text, add_special_tokens=False)[:128]])
    with torch.no_grad():
        lt = torch.log_softmax(t.model(ids).logits, -1)
        ls = torch.log_softmax(s.model(ids).logits, -1)
    return float((lt.exp() * (lt - ls)).sum(-1).mean())


def test_distillation_pulls_the_student_toward_the_teacher(cli, pair, tmp_path):
    teacher, student, data = pair
    out = tmp_path / "out"
    res = cli("distill", "--teacher", teacher, "--student", student, "-o", out, "--data", data, "--max-steps", "40",
              "--seq-len", "32", "--batch-size", "8", "--lr", "5e-3", "--temperature", "1.0")
    assert res.exit_code == 0, res.output
    before, after = _kl_to_teacher(teacher, student, TEXT), _kl_to_teacher(teacher, out, TEXT)
    assert after < 0.5 * before, (before, after)
    rec = json.loads((out / "distill.json").read_text())
    assert rec["recipe"]["kd_weight"] == 1.0 and len(rec["result"]["loss"]) == 40
    assert (out / "run" / "last" / "state.json").is_file() and (out / "tokenizer.json").is_file()


def test_tokenizer_mismatch_is_refused(cli, pair, tiny, tmp_path):
    teacher, _, data = pair
    res = cli("distill", "--teacher", teacher, "--student", tiny("llama"), "-o", tmp_path / "o", "--data", data)
    assert res.exit_code == 2 and "different tokenizers" in res.stderr
    assert not (tmp_path / "o").exists()


def test_bigger_student_warns(cli, pair, tmp_path):
    teacher, student, data = pair
    res = cli("distill", "--teacher", student, "--student", teacher, "-o", tmp_path / "o", "--data", data,
              "--max-steps", "2", "--seq-len", "16", "--batch-size", "2")
    assert res.exit_code == 0, res.output
    assert "not smaller than the teacher" in res.stderr


def test_empty_dataset_is_refused(cli, pair, tmp_path):
    teacher, student, _ = pair
    empty = tmp_path / "e.txt"
    empty.write_text("  \n")
    res = cli("distill", "--teacher", teacher, "--student", student, "-o", tmp_path / "o", "--data", empty)
    assert res.exit_code == 2 and "empty" in res.stderr


SMALL = ("--seq-len", "32", "--batch-size", "8", "--eval-every", "3", "--ckpt-every", "3", "--lr", "5e-3")


def _run(cli, pair, out, *extra):
    teacher, student, data = pair
    return cli("distill", "--teacher", teacher, "--student", student, "-o", out, "--data", data, *SMALL, *extra)


def _record(out):
    return json.loads((out / "distill.json").read_text())


def test_reports_held_out_metrics_and_writes_a_loss_plot(cli, pair, tmp_path):
    res = _run(cli, pair, tmp_path / "o", "--max-steps", "6", "--grad-accum", "2")
    assert res.exit_code == 0, res.output
    assert "KL to teacher" in res.output and "top-1 agree" in res.output
    evals = _record(tmp_path / "o")["result"]["evals"]
    assert [e["step"] for e in evals] == [3, 6]
    assert {"kl", "ppl", "top1", "acc", "ce"} <= set(evals[-1]) and evals[-1]["kl"] < evals[0]["kl"]
    assert (tmp_path / "o" / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_killed_distillation_resumes_to_the_same_curve(cli, pair, tmp_path, monkeypatch):
    import edgeslm.distill as distill_mod

    assert _run(cli, pair, tmp_path / "full", "--max-steps", "6").exit_code == 0
    real = distill_mod.make_loss

    def dies_on_step_5(teacher, cfg):
        fn, calls = real(teacher, cfg), {"n": 0}

        def loss(student, batch):
            calls["n"] += 1
            if calls["n"] == 5:  # after the step-3 checkpoint
                raise KeyboardInterrupt
            return fn(student, batch)

        return loss

    monkeypatch.setattr(distill_mod, "make_loss", dies_on_step_5)
    _run(cli, pair, tmp_path / "killed", "--max-steps", "6")
    monkeypatch.setattr(distill_mod, "make_loss", real)
    run = tmp_path / "killed" / "run"
    assert json.loads((run / "last" / "state.json").read_text())["step"] == 3
    assert not (run / "last.partial").exists() and not (tmp_path / "killed" / "model.safetensors").exists()
    res = _run(cli, pair, tmp_path / "killed", "--max-steps", "6", "--resume")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(_record(tmp_path / "killed")["result"]["loss"], _record(tmp_path / "full")["result"]["loss"],
                               rtol=1e-5, atol=1e-6)


def test_resume_with_another_configuration_is_refused(cli, pair, tmp_path):
    assert _run(cli, pair, tmp_path / "o", "--max-steps", "3").exit_code == 0
    res = _run(cli, pair, tmp_path / "o", "--max-steps", "6", "--resume", "--kd-weight", "0.5")
    assert res.exit_code == 2 and "different recipe" in res.stderr and "kd_weight" in res.stderr
    res = _run(cli, pair, tmp_path / "o", "--max-steps", "6", "--resume", "--seed", "3")
    assert res.exit_code == 2 and "different configuration" in res.stderr


def test_teacher_cache_trains_like_the_online_teacher(cli, pair, tmp_path):
    """Same windows, same order: top-16 + rest targets move the student like the full distribution."""
    online = _run(cli, pair, tmp_path / "online", "--max-steps", "9")
    cached = _run(cli, pair, tmp_path / "cached", "--max-steps", "9", "--cache-teacher", tmp_path / "cache", "--top-k", "16")
    assert online.exit_code == 0 and cached.exit_code == 0, cached.output
    a, b = _record(tmp_path / "online"), _record(tmp_path / "cached")
    assert a["data"]["windows_sha256"] == b["data"]["windows_sha256"]
    # the (k+1)-bin KL is a lower bound, close when the top-16 of 256 tokens hold most of the mass
    ratio = np.array(b["result"]["loss"]) / np.array(a["result"]["loss"])
    assert np.all(ratio <= 1 + 1e-3) and np.all(ratio > 0.8), ratio
    # and the student it trains is as close to the teacher, judged with full logits
    assert _kl_to_teacher(pair[0], tmp_path / "cached", TEXT) < 1.1 * _kl_to_teacher(pair[0], tmp_path / "online", TEXT)
    from edgeslm.distill.cache import open_cache

    c = open_cache(tmp_path / "cache")
    m, t, k = c.splits["train"]["topk_idx"].shape
    assert k == 16 and c.nbytes < 0.3 * m * t * 256 * 4  # vs fp32 logits over the 256-token vocabulary


def test_a_filled_cache_trains_with_no_teacher_loaded(cli, pair, tmp_path, monkeypatch):
    import edgeslm.distill as distill_mod

    cache = tmp_path / "cache"
    assert _run(cli, pair, tmp_path / "a", "--max-steps", "2", "--cache-teacher", cache, "--top-k", "8").exit_code == 0
    loaded = []
    real = distill_mod.load_model
    monkeypatch.setattr(distill_mod, "load_model", lambda ckpt: loaded.append(ckpt.path) or real(ckpt))
    assert _run(cli, pair, tmp_path / "b", "--max-steps", "2", "--cache-teacher", cache, "--top-k", "8").exit_code == 0
    assert loaded == [pair[1]]  # the student only


def test_corrupt_or_mismatched_teacher_cache_is_refused(cli, pair, tmp_path):
    cache = tmp_path / "cache"
    assert _run(cli, pair, tmp_path / "a", "--max-steps", "3", "--cache-teacher", cache, "--top-k", "8").exit_code == 0
    res = _run(cli, pair, tmp_path / "b", "--max-steps", "3", "--cache-teacher", cache, "--top-k", "4")
    assert res.exit_code == 2 and "built for something else" in res.stderr and "top_k" in res.stderr
    f = cache / "train.topk_logp.npy"
    raw = bytearray(f.read_bytes())
    raw[-10] ^= 0xFF
    f.write_bytes(bytes(raw))
    res = _run(cli, pair, tmp_path / "c", "--max-steps", "3", "--cache-teacher", cache, "--top-k", "8")
    assert res.exit_code == 2 and "corrupt" in res.stderr and "delete" in res.stderr
    (cache / "cache.json").unlink()
    res = _run(cli, pair, tmp_path / "d", "--max-steps", "3", "--cache-teacher", cache, "--top-k", "8")
    assert res.exit_code == 2 and "not a teacher cache" in res.stderr


def test_sequence_level_distillation_trains_on_teacher_text(cli, pair, tmp_path):
    teacher, _, _ = pair
    res = _run(cli, pair, tmp_path / "o", "--max-steps", "3", "--generate", "--num-prompts", "16", "--prompt-tokens", "8",
               "--max-new-tokens", "24", "--kd-weight", "0")
    assert res.exit_code == 0, res.output
    stream = np.load(tmp_path / "o" / "run" / "generated.npy")
    assert 16 * 9 <= len(stream) <= 16 * (8 + 24 + 1)
    # the stream is the teacher's: its own greedy-free samples are likely under it, far more than under noise
    from edgeslm.models.loader import load_model

    t = load_model(teacher)
    ids = torch.tensor(stream[:128])[None]
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(t.model(ids[:, :-1]).logits[0], ids[0, 1:]).item()
    assert nll < 0.5 * math.log(256), nll
    assert _record(tmp_path / "o")["recipe"]["generate"]["num_prompts"] == 16


def test_generate_from_jsonl_prompts(cli, pair, tmp_path):
    teacher, student, _ = pair
    jl = tmp_path / "p.jsonl"
    jl.write_text("\n".join(json.dumps({"prompt": f"def f{i}(x, y):\n", "response": "?"}) for i in range(40)))
    res = cli("distill", "--teacher", teacher, "--student", student, "-o", tmp_path / "o", "--data", jl, *SMALL,
              "--max-steps", "2", "--generate", "--num-prompts", "12", "--max-new-tokens", "16", "--gen-temperature", "0")
    assert res.exit_code == 0, res.output
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(teacher / "tokenizer.json"))
    text = tok.decode(np.load(tmp_path / "o" / "run" / "generated.npy").tolist())
    assert text.count("def f") >= 12


@pytest.fixture(scope="module")
def pruned_pair(pair, tmp_path_factory):
    """The teacher pruned to 1 layer and half its width: a student with a prune_record.json."""
    from edgeslm.data import load_text
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint

    teacher, _, data = pair
    out = tmp_path_factory.mktemp("pruned") / "s"
    prune_checkpoint(open_checkpoint(teacher), out, PruneRequest(drop_layers=0, hidden_size=32, round_to=1),
                     load_text(data), load_text(data), calib_samples=8, seq_len=32, eval_samples=4)
    return teacher, out, data


def test_hidden_state_matching_uses_the_prune_record(cli, pruned_pair, tmp_path):
    from edgeslm.distill.hidden import hidden_loss, plan_hidden_match
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.prune.record import PrunedCheckpoint, open_student

    teacher, student, data = pruned_pair
    t, s = open_checkpoint(teacher), open_student(student)
    assert isinstance(s, PrunedCheckpoint)  # the typed stage result, read back from the folder
    hm = plan_hidden_match(s, t.spec, 1.0, "mse", None)
    kept = json.loads((student / "prune_record.json").read_text())["kept"]
    assert hm.layer_map == ((0, kept["layers"][0]),) and hm.channels == tuple(kept["hidden"])
    # against itself (all channels, identity map) the loss is zero; the pruned student starts above it
    tm, sm = load_model(teacher).model, load_model(student).model
    ids = torch.tensor([load_model(teacher).tokenizer.encode(TEXT[:400])])
    with torch.no_grad():
        th = tm(ids, output_hidden_states=True).hidden_states
        sh = sm(ids, output_hidden_states=True).hidden_states
    from edgeslm.distill.hidden import HiddenMatch

    assert hidden_loss(th, th, HiddenMatch(1.0, "cosine", ((0, 0), (1, 1)))).item() == pytest.approx(0, abs=1e-6)
    before = hidden_loss(sh, th, hm).item()
    assert before > 0.01

    res = cli("distill", "--teacher", teacher, "--student", student, "-o", tmp_path / "o", "--data", data, *SMALL,
              "--max-steps", "12", "--hidden-weight", "1", "--hidden-loss", "mse", "--kd-weight", "0")
    assert res.exit_code == 0, res.output
    with torch.no_grad():
        after = hidden_loss(load_model(tmp_path / "o").model(ids, output_hidden_states=True).hidden_states, th, hm).item()
    assert after < 0.7 * before, (before, after)


def test_hidden_matching_without_a_mapping_is_refused(cli, pair, tmp_path):
    res = _run(cli, pair, tmp_path / "o", "--max-steps", "2", "--hidden-weight", "1")
    assert res.exit_code == 2 and "prune_record.json" in res.stderr


def _torchrun(pair, out, nproc, *extra):
    import os
    import subprocess
    import sys

    teacher, student, data = pair
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "-m", "edgeslm", "distill",
           "--teacher", str(teacher), "--student", str(student), "-o", str(out), "--data", str(data), *SMALL,
           "--max-steps", "6", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return _record(out), p


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(pair, tmp_path, mode):
    """torchrun with 2 gloo processes, each taking half of every global batch, retraces the 1-process run."""
    one, _ = _torchrun(pair, tmp_path / "one", 1)
    two, p = _torchrun(pair, tmp_path / "two", 2, *(["--fsdp"] if mode == "fsdp" else []))
    assert two["processes"] == 2
    # float reassociation in the gradient all-reduce only: 1e-5 relative is 100x what was seen (1e-7)
    np.testing.assert_allclose(two["result"]["loss"], one["result"]["loss"], rtol=1e-5)
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert sorted(a) == sorted(b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    assert p.stdout.count("wrote ") == 1  # rank 0 alone reports


@pytest.mark.slow
def test_sigkill_mid_run_leaves_a_whole_checkpoint_and_resumes(pair, tmp_path):
    """kill -9 while checkpointing every step: what is left loads, and the resumed run ends on the same curve."""
    import os
    import signal
    import subprocess
    import sys
    import time

    teacher, student, data = pair
    args = ["--teacher", str(teacher), "--student", str(student), "--data", str(data), *SMALL, "--ckpt-every", "1",
            "--max-steps", "40"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([sys.executable, "-m", "edgeslm", "distill", *args, "-o", str(full)], check=True, capture_output=True)
    p = subprocess.Popen([sys.executable, "-m", "edgeslm", "distill", *args, "-o", str(killed)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "run" / "last" / "state.json"

    def saved_step() -> int:
        try:
            return json.loads(state.read_text())["step"]
        except (OSError, ValueError):  # between the renames of a save
            return 0

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and saved_step() < 5:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (killed / "distill.json").exists(), "the run finished before it could be killed"
    subprocess.run([sys.executable, "-m", "edgeslm", "distill", *args, "-o", str(killed), "--resume"], check=True,
                   capture_output=True)
    np.testing.assert_allclose(_record(killed)["result"]["loss"], _record(full)["result"]["loss"], rtol=1e-5, atol=1e-6)


def test_a_large_teacher_is_cached_by_default(cli, pair, tmp_path, monkeypatch):
    """Past AUTO_CACHE_MIN_PARAMS (lowered here to the tiny teacher's size) the cache is the default path, kept
    outside the output in $EDGESLM_CACHE and reused by the next run; --online-teacher keeps it online."""
    import edgeslm.distill as distill_mod

    monkeypatch.setattr(distill_mod, "AUTO_CACHE_MIN_PARAMS", 1)
    monkeypatch.setattr(distill_mod, "AUTO_CACHE_MIN_COVERAGE", 0.0)
    monkeypatch.setenv("EDGESLM_CACHE", str(tmp_path / "cache-root"))
    res = _run(cli, pair, tmp_path / "auto", "--max-steps", "2")
    assert res.exit_code == 0, res.output
    assert _record(tmp_path / "auto")["recipe"]["teacher"] == "cache top-64"
    caches = list((tmp_path / "cache-root" / "teacher-cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "cache.json").is_file()
    assert not any(p.name == "cache.json" for p in (tmp_path / "auto").rglob("*"))  # not inside the output
    online = _run(cli, pair, tmp_path / "online", "--max-steps", "2", "--online-teacher")
    assert online.exit_code == 0 and _record(tmp_path / "online")["recipe"]["teacher"] == "online"
    monkeypatch.setattr(distill_mod, "AUTO_CACHE_MIN_COVERAGE", 1e9)  # a run reading few of its windows: online
    assert _run(cli, pair, tmp_path / "short", "--max-steps", "2").exit_code == 0
    assert _record(tmp_path / "short")["recipe"]["teacher"] == "online"
