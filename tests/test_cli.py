import json


def test_help_reads_like_documentation(cli):
    res = cli("--help")
    assert res.exit_code == 0
    for cmd in ("inspect", "export", "verify", "build", "targets"):
        assert cmd in res.stdout
    res = cli("verify", "--help")
    assert "KL" in res.stdout and "Exits 1 when a gate" in res.stdout


def test_inspect_reports_parts_sizes_and_fit(cli, tiny):
    res = cli("inspect", tiny("wide576"))
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "hidden 576" in out and "heads 9 (kv 3" in out
    for part in ("embeddings", "attention", "mlp", "head", "(tied to embeddings)"):
        assert part in out
    q4 = next(line for line in out.splitlines() if " Q4_K_M " in line)
    assert "fallback" in q4 and "Q5_0" in q4  # rows of 576 do not fit 256-blocks
    q8 = next(line for line in out.splitlines() if " Q8_0 " in line)
    assert q8.rstrip().endswith("fits")


def test_inspect_json(cli, tiny):
    res = cli("inspect", tiny("qwen2"), "--json", "-")
    d = json.loads(res.stdout)
    assert d["params"]["head"] == 0 and d["architecture"]["family"] == "qwen2"
    assert d["params"]["total"] == d["architecture"]["num_params"]


def test_export_writes_only_the_artifact(cli, tiny, tmp_path):
    out = tmp_path / "m.gguf"
    res = cli("export", tiny("llama"), "--format", "gguf", "--quant", "q4_k_m", "-o", out)
    assert res.exit_code == 0, res.output
    assert [p.name for p in tmp_path.iterdir()] == ["m.gguf"]  # no F32 intermediate or .partial left
    assert "Q4_K_M" in res.stdout


def test_build_writes_reports_and_manifest(cli, tiny, tmp_path):
    out = tmp_path / "out"
    res = cli("build", tiny("llama"), "--target", "tests/data/loose-target.toml", "-o", out, "--max-tokens", "256",
              "--runs", "1")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "llama-Q4_K_M.gguf", "llama-Q8_0.gguf", "logs", "manifest.json", "report.html", "report.json", "report.md"]
    # each runtime process's own output, kept beside the artifacts
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["llama-Q4_K_M.gguf.log", "llama-Q8_0.gguf.log"]
    rep = json.loads((out / "report.json").read_text())
    assert rep["passed"] and [a["quant"] for a in rep["artifacts"]] == ["Q8_0", "Q4_K_M"]
    man = json.loads((out / "manifest.json").read_text())
    assert man["source"]["sha256"] == rep["artifacts"][0]["reference"]["sha256"]
    assert all(len(a["sha256"]) == 64 for a in man["artifacts"])
    assert "gguf:Q8_0" in res.stdout and "decode t/s" in res.stdout
    assert "[1/2] gguf:Q8_0: exporting" in res.stderr  # progress goes to stderr
