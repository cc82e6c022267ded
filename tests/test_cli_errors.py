"""Bad input: a clear message, a non-zero exit, no traceback, no partial output."""

import json
import shutil

import pytest


def _clean(res, code=2, *needles):
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert res.stderr.startswith("error: ") or "\nerror: " in res.stderr  # progress lines may come first
    for n in needles:
        assert n in res.stderr, res.stderr


def _copy(tiny, tmp_path, name="llama"):
    d = tmp_path / "m"
    shutil.copytree(tiny(name), d)
    return d


def _no_files(d, pattern="*"):
    return [p.name for p in d.glob(pattern)]


def test_missing_directory(cli, tmp_path):
    res = cli("export", tmp_path / "nope", "--quant", "Q8_0", "-o", tmp_path / "x.gguf")
    _clean(res, 2, "does not exist")
    assert _no_files(tmp_path) == []


def test_config_not_json(cli, tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    (d / "config.json").write_text("{not json")
    res = cli("export", d, "--quant", "Q8_0", "-o", tmp_path / "x.gguf")
    _clean(res, 2, "config.json is not valid JSON")
    assert not (tmp_path / "x.gguf").exists()


def test_truncated_safetensors(cli, tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    res = cli("export", d, "--quant", "Q8_0", "-o", tmp_path / "x.gguf")
    _clean(res, 2, "truncated")
    assert not (tmp_path / "x.gguf").exists()


def test_unknown_architecture(cli, tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"], cfg["model_type"] = ["GPTNeoXForCausalLM"], "gpt_neox"
    (d / "config.json").write_text(json.dumps(cfg))
    res = cli("inspect", d)
    _clean(res, 2, "GPTNeoXForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM")


def test_missing_tokenizer(cli, tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    (d / "tokenizer.json").unlink()
    res = cli("export", d, "--quant", "Q8_0", "-o", tmp_path / "x.gguf")
    _clean(res, 2, "tokenizer.json")
    assert not (tmp_path / "x.gguf").exists()


def test_unknown_quant(cli, tiny, tmp_path):
    res = cli("export", tiny("llama"), "--quant", "Q3_XL", "-o", tmp_path / "x.gguf")
    _clean(res, 2, "Q3_XL", "Q4_K_M")
    assert _no_files(tmp_path) == []


def test_unknown_target(cli, tiny, gguf_file):
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", "pixel9000")
    _clean(res, 2, "unknown target 'pixel9000'", "known targets")


def test_target_file_with_typo(cli, tiny, tmp_path):
    t = tmp_path / "t.toml"
    t.write_text(open("targets/rpi5.toml").read().replace("threads = 4", "thread = 4"))
    res = cli("build", tiny("llama"), "--target", t, "-o", tmp_path / "out")
    _clean(res, 2, "unknown key 'thread'", "did you mean 'threads'")
    assert not (tmp_path / "out").exists()


def test_output_in_missing_directory(cli, tiny, tmp_path):
    res = cli("export", tiny("llama"), "--quant", "Q8_0", "-o", tmp_path / "no" / "such" / "x.gguf")
    _clean(res, 2, "does not exist", "mkdir -p")


def test_output_in_read_only_directory(cli, tiny, readonly_dir):
    res = cli("export", tiny("llama"), "--quant", "Q8_0", "-o", readonly_dir / "x.gguf")
    _clean(res, 2)
    assert "writ" in res.stderr  # "not writable" or "cannot write"
    assert list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize(
    "content, needle",
    [(b"", "empty"), (b"   \n\n\t\n", "empty"), (b"\x7fELF\x02\x01\x00\x00\x00binary", "binary"),
     ("caf\u00e9".encode("latin-1"), "not valid UTF-8")],
    ids=["empty", "whitespace", "binary", "latin1"],
)
def test_bad_evaluation_data(cli, tiny, gguf_file, tmp_path, content, needle):
    data = tmp_path / "eval.txt"
    data.write_bytes(content)
    out = tmp_path / "r.json"
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", "host", "--data", data,
              "--json", out)
    _clean(res, 2, needle)
    assert not out.exists()


def test_jsonl_without_text_field(cli, tiny, gguf_file, tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text('{"content": "x = 1"}\n')
    res = cli("verify", gguf_file("llama", "Q8_0"), "--reference", tiny("llama"), "--target", "host", "--data", data)
    _clean(res, 2, '"text" field')


@pytest.mark.parametrize("cut", ["header", "tail"])
def test_corrupt_gguf_is_refused(cli, tiny, gguf_file, tmp_path, cut):
    bad = tmp_path / "bad.gguf"
    raw = gguf_file("llama", "Q8_0").read_bytes()
    bad.write_bytes(raw[:5000] if cut == "header" else raw[:-4096])
    res = cli("verify", bad, "--reference", tiny("llama"), "--target", "host")
    _clean(res, 2, "bad.gguf")
    assert "not a readable GGUF" in res.stderr or "could not load" in res.stderr


def test_debug_shows_traceback(tiny, tmp_path):
    from click.testing import CliRunner

    from edgeslm.cli import main
    from edgeslm.errors import ModelLoadError

    res = CliRunner().invoke(main, ["--debug", "inspect", str(tmp_path / "nope")])
    assert isinstance(res.exception, ModelLoadError)
