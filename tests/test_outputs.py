"""Nothing lost: one output rule for every command, and checkpoints checked against their config."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from pathlib import Path

import pytest

from bad_inputs import MATERIALS
from edgeslm.outputs import is_edgeslm_output


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture()
def ckpt_copy(tiny, tmp_path):
    """A private copy of the tiny llama, so a test that fails to protect it harms nothing shared."""
    d = tmp_path / "ckpt"
    shutil.copytree(tiny("llama"), d)
    return d


def test_export_never_replaces_its_own_source(cli, ckpt_copy):
    weights = ckpt_copy / "model.safetensors"
    before = _sha(weights)
    res = cli("export", ckpt_copy, "--format", "gguf", "--quant", "F32", "-o", weights)
    assert res.exit_code == 2 and "inside the input" in res.stderr
    res = cli("export", ckpt_copy, "--format", "gguf", "--quant", "F32", "-o", weights, "--overwrite")
    assert res.exit_code == 2  # --overwrite never reaches into an input
    assert _sha(weights) == before


def test_export_refuses_a_file_it_did_not_make_even_with_overwrite(cli, tiny, tmp_path):
    mine = tmp_path / "notes.gguf"
    mine.write_text("my notes")
    for extra in ((), ("--overwrite",)):
        res = cli("export", tiny("llama"), "--quant", "Q8_0", "-o", mine, *extra)
        assert res.exit_code == 2 and "edgeslm did not make it" in res.stderr
    assert mine.read_text() == "my notes"


def test_export_replaces_an_earlier_artifact_only_with_overwrite(cli, tiny, tmp_path):
    out = tmp_path / "m.gguf"
    assert cli("export", tiny("llama"), "--quant", "Q8_0", "-o", out).exit_code == 0
    first = _sha(out)
    res = cli("export", tiny("llama"), "--quant", "Q4_0", "-o", out)
    assert res.exit_code == 2 and "--overwrite" in res.stderr and _sha(out) == first
    res = cli("export", tiny("llama"), "--quant", "Q4_0", "-o", out, "--overwrite")
    assert res.exit_code == 0, res.output
    from edgeslm.export.gguf import read_lineage

    assert read_lineage(out)["quant"] == "Q4_0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]  # nothing staged is left beside it


@pytest.mark.parametrize(("fmt", "name", "says"), [
    ("gguf", "model.onnx", "name it model.gguf"),
    ("onnx", "model.gguf", "name it model"),
])
def test_an_artifact_name_must_match_its_format(cli, tiny, tmp_path, fmt, name, says):
    res = cli("export", tiny("llama"), "--format", fmt, "-o", tmp_path / name)
    assert res.exit_code == 2 and says in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_distill_refuses_the_teacher_folder_and_foreign_folders(cli, ckpt_copy, tiny, tmp_path):
    before = {p.name: _sha(p) for p in ckpt_copy.iterdir() if p.is_file()}
    data = tmp_path / "d.txt"
    data.write_text("def f(x):\n    return x\n" * 50)
    res = cli("distill", "--teacher", ckpt_copy, "--student", tiny("llama"), "-o", ckpt_copy, "--data", data)
    assert res.exit_code == 2 and "is the input" in res.stderr
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    res = cli("distill", "--teacher", ckpt_copy, "--student", tiny("llama"), "-o", foreign, "--data", data, "--overwrite")
    assert res.exit_code == 2 and "edgeslm did not make it" in res.stderr
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]
    assert {p.name: _sha(p) for p in ckpt_copy.iterdir() if p.is_file()} == before


def test_prune_output_is_replaced_only_with_overwrite_and_is_readable(cli, tiny, tmp_path):
    out = tmp_path / "p"
    args = ("prune", tiny("llama"), "-o", out, "--drop-layers", "1", "--calib-samples", "2", "--seq-len", "32")
    assert cli(*args).exit_code == 0
    assert is_edgeslm_output(out)
    res = cli(*args)
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    assert cli(*args, "--overwrite").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    mode = stat.S_IMODE((out / "model.safetensors").stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # group and others can read it (0600 before)


def test_build_over_an_earlier_build_needs_overwrite(cli, tiny, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # what an earlier build leaves
    (out / "stale.gguf").write_text("old")
    args = ("build", tiny("llama"), "--target", "tests/data/loose-target.toml", "-o", out, "--max-tokens", "64", "--runs", "1")
    res = cli(*args)
    assert res.exit_code == 2 and "--overwrite" in res.stderr and (out / "stale.gguf").exists()
    res = cli(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert not (out / "stale.gguf").exists() and json.loads((out / "manifest.json").read_text())["artifacts"]


# --- checkpoints are checked against their config when opened ---------------------------


@pytest.mark.parametrize(("material", "says"), [
    ("TRANSPOSED", "tensor model.layers.0.mlp.up_proj.weight has shape"),
    ("MISSING_TENSOR", "tensor model.layers.1.self_attn.k_proj.weight is missing"),
    ("MORE_LAYERS", "is missing (config.json declares it"),
    ("BIG_VOCAB", "tensor model.embed_tokens.weight has shape"),
    ("HEADS_INDIVISIBLE", "is not a multiple of num_attention_heads=3, and there is no head_dim"),
])
def test_inconsistent_checkpoints_are_refused_naming_the_tensor_or_field(cli, tiny, gguf_file, tmp_path, material, says):
    bad = MATERIALS[material](tmp_path, tiny("llama"), gguf_file("llama", "Q8_0"))
    for args in (("inspect", bad), ("export", bad, "--quant", "F32", "-o", tmp_path / "x.gguf")):
        res = cli(*args)
        assert res.exit_code == 2, res.output
        assert says in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize(("field", "value"), [
    ("num_attention_heads", 0), ("hidden_size", -64), ("num_hidden_layers", 2.5), ("vocab_size", "many"),
    ("intermediate_size", True), ("rms_norm_eps", 0),
])
def test_config_values_are_checked_for_type_and_range(cli, tiny, tmp_path, field, value):
    bad = tmp_path / "bad"
    shutil.copytree(tiny("llama"), bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg[field] = value
    (bad / "config.json").write_text(json.dumps(cfg))
    res = cli("inspect", bad)
    assert res.exit_code == 2 and field in res.stderr, res.output


def test_verify_warns_when_the_reference_is_not_what_the_artifact_was_made_from(cli, tiny, gguf_file, tmp_path):
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    shutil.copytree(tiny("llama"), other)
    t = load_file(other / "model.safetensors")
    t["model.norm.weight"] = t["model.norm.weight"] * 1.01  # same shapes, another model
    save_file(t, other / "model.safetensors", metadata={"format": "pt"})
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", other, "--target", "tests/data/loose-target.toml",
              "--max-tokens", "64", "--runs", "1")
    assert "records that it was made from a checkpoint with sha256" in res.stderr, res.output
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", "tests/data/loose-target.toml",
              "--max-tokens", "64", "--runs", "1")
    assert "records that it was made from" not in res.stderr
