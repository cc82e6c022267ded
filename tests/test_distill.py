"""edgeslm distill on tiny models: it learns the teacher, and bad pairs are refused."""

import json
import math
import warnings

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
    student = build_tiny_model(TinyConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                                          seed=2), d / "student", tokenizer=tok)
    data = d / "data.txt"
    data.write_text(TEXT)
    return teacher, student, data


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
    assert rec["distill"]["kd_weight"] == 1.0 and len(rec["result"]["loss"]) == 40
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
