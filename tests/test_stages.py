"""Typed stages, one registration per format, one stage-folder writer, lineage inside artifacts."""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).parent / "plugins"
COPY_TARGET = Path(__file__).parent / "data" / "copy-format-target.toml"
TEXT = "\n".join(f"def f{i}(x, y):\n    return x * {i % 7} + y  # {i}\n" for i in range(200))


def test_every_format_is_one_complete_record():
    from edgeslm.formats import all_formats, format_for_config

    formats = all_formats()
    assert list(formats)[:3] == ["gguf", "executorch", "onnx"]
    for name, f in formats.items():
        cfg = f.make_config()
        assert format_for_config(cfg) is f and cfg.quant == f.default_quant and cfg.quant in f.quants
        assert all(q.why for q in f.quants.values())  # every quant type explains itself in --help and inspect
        assert set(f.options) <= {fl.name for fl in fields(f.config)} - {"quant"}
        assert f.artifact_name("m", cfg.quant).endswith(f.suffix) != f.is_folder
        assert callable(f.runner()) and callable(f.export) and callable(f.read_lineage)


# a comparison with, or a table keyed by, a format's name
_BRANCH = re.compile(r"""(==|!=|\bin)\s*\(?["'](gguf|executorch|onnx)["']|["'](gguf|executorch|onnx)["']\s*:""")
# the format's own files: its record, exporter, runner and quant table
_OWN = {"formats", "export/gguf.py", "export/gguf_vocab.py", "export/executorch.py", "export/onnx.py",
        "runners/llamacpp.py", "runners/executorch.py", "runners/onnx.py", "quantize"}


def test_no_other_module_branches_on_a_format_name():
    """Format knowledge lives in the format's record and its own files; everything else asks the registry."""
    pkg = ROOT / "edgeslm"
    found = []
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg).as_posix()
        if rel in _OWN or rel.split("/")[0] in _OWN:
            continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if _BRANCH.search(code):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


def test_unknown_format_names_are_refused_with_a_suggestion():
    from edgeslm.errors import UsageError
    from edgeslm.formats import format_named

    with pytest.raises(UsageError) as e:
        format_named("ggfu")
    assert "did you mean 'gguf'?" in e.value.hint


@pytest.fixture()
def copy_format(monkeypatch):
    """The plugin that registers a fourth format; runtime processes inherit it."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("EDGESLM_PLUGINS", "copy_format")
    monkeypatch.syspath_prepend(str(PLUGINS))


def test_a_fourth_format_is_one_plugin_module(cli, tiny, tmp_path, copy_format):
    """Registered from tests/plugins/copy_format.py alone, it exports, builds, verifies and lists like the built-ins."""
    out = tmp_path / "b"
    res = cli("build", tiny("llama"), "--target", COPY_TARGET, "-o", out, "--data", ROOT / "calibration" / "stress.txt",
              "--max-tokens", "256", "--runs", "1")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    rows = {r["format"]: r for r in report["artifacts"]}
    assert set(rows) == {"gguf", "gguf-copy"} and all(r["passed"] for r in rows.values())
    copy = Path(rows["gguf-copy"]["artifact"])
    assert copy.suffix == ".ggufc" and copy.is_file()
    # the same bytes as the built-in GGUF of the same quant: the same accuracy, measured in the same runtime
    assert rows["gguf-copy"]["accuracy"]["mean_kl"] == pytest.approx(rows["gguf"]["accuracy"]["mean_kl"], abs=1e-9)
    v = cli("verify", copy, "--reference", tiny("llama"), "--target", COPY_TARGET, "--max-tokens", "64", "--runs", "1")
    assert v.exit_code == 0, v.output
    assert "gguf-copy" in cli("export", "--help").stdout


def test_open_artifact_reads_format_quant_and_source_from_the_artifact(gguf_file, tiny):
    from edgeslm.export import open_artifact
    from edgeslm.models.loader import open_checkpoint

    art = open_artifact(gguf_file("llama", "Q4_K_M"))
    assert (art.format, art.quant) == ("gguf", "Q4_K_M")
    assert art.source_sha256 == open_checkpoint(tiny("llama")).sha256


def test_verify_takes_the_artifact_export_returned(tiny, tmp_path):
    """No second guess of format or quant: verify reads them from the Artifact it is handed."""
    from dataclasses import replace

    from edgeslm.data import TextSet
    from edgeslm.export import GGUFConfig, export
    from edgeslm.models.loader import load_model, open_checkpoint
    from edgeslm.targets import load_target
    from edgeslm.verify import VerifyOptions, verify

    ckpt = open_checkpoint(tiny("llama"))
    art = export(ckpt, GGUFConfig(quant="Q8_0"), tmp_path / "m.gguf")
    target = load_target(ROOT / "tests" / "data" / "loose-target.toml")
    opts = VerifyOptions(ctx=64, max_tokens=128, runs=1, prompt_tokens=16, new_tokens=8, greedy_tokens=4)
    report = verify(art, load_model(ckpt), target, TextSet.of(TEXT, "t"), options=opts)
    assert (report.format, report.quant) == ("gguf", "Q8_0") and report.passed
    # the target's Q8_0 gates (KL <= 0.02) apply to what the Artifact says it is
    assert any(g.name == "max_mean_kl" and g.limit == 0.02 for g in report.gates)
    relabelled = verify(replace(art, quant="Q4_K_M"), load_model(ckpt), target, TextSet.of(TEXT, "t"), options=opts)
    assert not any(g.name == "max_mean_kl" and g.limit == 0.02 for g in relabelled.gates)


@pytest.fixture(scope="module")
def pruned(tiny, tmp_path_factory):
    from edgeslm.data import TextSet
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest
    from edgeslm.prune.stage import prune_checkpoint

    out = tmp_path_factory.mktemp("stages") / "pruned"
    text = TextSet.of(TEXT, "t")
    return prune_checkpoint(open_checkpoint(tiny("llama")), out, PruneRequest(ffn_dim=64, round_to=16), text, text,
                            calib_samples=4, seq_len=32, eval_samples=2)


def test_prune_returns_the_checkpoint_with_its_record(pruned, tiny):
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune.record import PrunedCheckpoint, PruneRecord, open_student

    assert isinstance(pruned, PrunedCheckpoint) and pruned.checkpoint.spec.intermediate_size == 64
    assert pruned.record.source["sha256"] == open_checkpoint(tiny("llama")).sha256
    assert all(len(v) == 64 for v in pruned.record.kept.ffn.values())
    again = open_student(pruned.checkpoint.path)  # what distill and the CLI read back
    assert again == pruned and PruneRecord.read(pruned.checkpoint.path) == pruned.record


def test_every_stage_folder_records_what_it_was_made_from(pruned, tiny):
    from edgeslm.manifest import file_sha256
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.outputs import read_stage_record

    folder = pruned.checkpoint.path
    rec = read_stage_record(folder)
    assert rec["stage"] == "prune" and rec["inputs"]["source"] == open_checkpoint(tiny("llama")).sha256
    assert rec["config"]["request"]["ffn_dim"] == 64 and rec["versions"]["torch"] and rec["seconds"] >= 0
    files = sorted(f.name for f in folder.iterdir() if f.name != "stage.json")
    assert sorted(rec["outputs"]) == files
    assert all(file_sha256(folder / n) == sha for n, sha in rec["outputs"].items())
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # nothing left beside it
    assert oct(os.stat(folder / "model.safetensors").st_mode & 0o777) != "0o600"


def test_distill_returns_the_student_its_record_and_curves(pruned, tiny, tmp_path):
    from edgeslm.data import TextSet
    from edgeslm.distill import DistillConfig, DistilledCheckpoint, distill_checkpoints
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.models.provenance import teacher_sha256
    from edgeslm.outputs import read_stage_record
    from edgeslm.train.loop import TrainConfig

    teacher = open_checkpoint(tiny("llama"))
    text = TextSet.of(TEXT, "t")
    cfg = TrainConfig(max_steps=4, batch_size=2, seq_len=32, eval_every=2, ckpt_every=2, warmup_steps=1, eval_batches=1)
    d = distill_checkpoints(teacher, pruned, tmp_path / "d", text, text, DistillConfig(), cfg, progress=lambda _: None)
    assert isinstance(d, DistilledCheckpoint) and d.checkpoint.path == tmp_path / "d"
    assert d.record["student"]["sha256"] == pruned.checkpoint.sha256 and len(d.curves.loss) == 4
    assert teacher_sha256(d.checkpoint) == teacher.sha256 == teacher_sha256(pruned.checkpoint)
    rec = read_stage_record(d.checkpoint.path)
    assert rec["stage"] == "distill" and "run/last/state.json" not in rec["outputs"]
    assert (d.checkpoint.path / "run" / "last" / "state.json").is_file()  # checkpoints moved in for --resume


def test_artifacts_carry_teacher_student_and_recipe(pruned, tmp_path):
    import onnx

    from edgeslm.export import GGUFConfig, ONNXConfig, export
    from edgeslm.export.onnx import read_metadata_lineage

    teacher = pruned.record.source["sha256"]
    g = export(pruned.checkpoint, GGUFConfig(quant="Q8_0"), tmp_path / "m.gguf", recipe_sha256="ab" * 32)
    lin = g.lineage
    assert (lin["source_sha256"], lin["teacher_sha256"], lin["recipe_sha256"]) == (
        pruned.checkpoint.sha256, teacher, "ab" * 32)
    o = export(pruned.checkpoint, ONNXConfig(quant="fp32"), tmp_path / "m-onnx", recipe_sha256="cd" * 32)
    meta = read_metadata_lineage(o.path / "model.onnx")
    assert meta["teacher_sha256"] == teacher and meta["recipe_sha256"] == "cd" * 32
    assert o.lineage["teacher_sha256"] == teacher
    # rewriting the graph's metadata kept its weights: onnxruntime loads them from the .data file
    import onnxruntime as ort

    sess = ort.InferenceSession(str(o.path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs() and onnx.load_model(str(o.path / "model.onnx")).graph.initializer


def test_config_errors_name_the_flag_that_set_the_field(cli, gguf_file, tiny):
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", "host", "--ctx", "4")
    assert res.exit_code == 2 and "--ctx must be at least 8, not 4." in res.stderr
    res = cli("prune", tiny("llama"), "--target-params", "1.5", "--plan")
    assert res.exit_code == 2 and "--target-params '1.5': a fraction must be at most 1" in res.stderr
