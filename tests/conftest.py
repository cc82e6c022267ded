"""Shared, session-scoped test models and artifacts: each is built once per run.

Every model is a tiny seeded random checkpoint of a real architecture with a
tokenizer trained here; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeslm.models.tiny import TinyConfig, build_tiny_model

# name -> config. Together they cover GQA, Qwen2 biases, tied embeddings, every
# tokenizer layout edgeslm maps, and widths that are not multiples of 256.
TINY = {
    "llama": TinyConfig(family="llama", tokenizer="gpt2"),
    "qwen2": TinyConfig(family="qwen2", tokenizer="qwen2", tie_word_embeddings=True, rope_theta=1_000_000.0, seed=1),
    "llama-spm": TinyConfig(family="llama", tokenizer="spm", seed=2),
    "smollm": TinyConfig(family="llama", tokenizer="smollm", tie_word_embeddings=True, num_heads=4, num_kv_heads=1, seed=3),
    # deep enough to choose layers from, and for hidden-state matching to have layers to pair
    "llama4": TinyConfig(family="llama", tokenizer="gpt2", num_layers=4, seed=5),
    # SmolLM2-135M's widths (hidden 576, 9 heads, 3 KV heads, ffn 1536), one layer
    "wide576": TinyConfig(family="llama", tokenizer="gpt2", hidden_size=576, intermediate_size=1536, num_layers=1,
                          num_heads=9, num_kv_heads=3, tie_word_embeddings=True, seed=4, init_std=0.04),
}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny(models_dir):
    """tiny(name) -> checkpoint directory, built on first use."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_tiny_model(TINY[name], models_dir / name)
        return built[name]

    return get


@pytest.fixture(scope="session")
def gguf_file(tiny, models_dir):
    """gguf_file(model, quant) -> exported .gguf, built on first use."""
    from edgeslm.export import GGUFConfig, export
    from edgeslm.models.loader import open_checkpoint

    built: dict[tuple[str, str], Path] = {}

    def get(name: str, quant: str) -> Path:
        key = (name, quant)
        if key not in built:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                built[key] = export(open_checkpoint(tiny(name)), GGUFConfig(quant), models_dir / f"{name}-{quant}.gguf").path
        return built[key]

    return get


@pytest.fixture(scope="session")
def folder_artifact(tiny, models_dir):
    """folder_artifact(model, format, quant) -> an ExecuTorch or ONNX folder, built once per session.

    ExecuTorch lowering takes tens of seconds per program, so each is shared.
    """
    from edgeslm.export import ExecuTorchConfig, ONNXConfig, export
    from edgeslm.models.loader import open_checkpoint

    built: dict[tuple[str, str, str], Path] = {}
    configs = {"executorch": lambda q: ExecuTorchConfig(q, max_seq_len=256), "onnx": lambda q: ONNXConfig(q)}

    def get(name: str, fmt: str, quant: str) -> Path:
        key = (name, fmt, quant)
        if key not in built:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                built[key] = export(open_checkpoint(tiny(name)), configs[fmt](quant), models_dir / f"{name}-{fmt}-{quant}").path
        return built[key]

    return get


@pytest.fixture(scope="session")
def all_formats_build(tiny, tmp_path_factory):
    """One `edgeslm build` of the tiny Llama for a target listing GGUF Q8_0, ExecuTorch 8da8w and ONNX int8:
    (output folder, click Result). ExecuTorch lowering is the slow part, so the build is shared."""
    from click.testing import CliRunner

    from edgeslm.cli import main

    out = tmp_path_factory.mktemp("all-formats") / "out"
    res = CliRunner().invoke(main, ["build", str(tiny("llama")), "--target", "tests/data/all-formats-target.toml", "-o",
                                    str(out), "--max-tokens", "256", "--runs", "1"], catch_exceptions=False)
    return out, res


@pytest.fixture(scope="session")
def loaded(tiny):
    from edgeslm.models.loader import load_model

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_model(tiny(name))
        return cache[name]

    return get


@pytest.fixture()
def cli():
    """Invoke the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from edgeslm.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture()
def readonly_dir(tmp_path):
    """A directory nothing can be written to, even by root (chattr +i) where needed."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
        pytest.skip("running as root on a filesystem without chattr +i: cannot make a read-only directory")
    yield d
    subprocess.run(["chattr", "-i", str(d)], check=True)


def pytest_terminal_summary(terminalreporter):
    """The fuzz counters (tests/test_fuzz.py) in the closing summary, so CI's log shows them."""
    import sys

    fuzz = next((m for name, m in sys.modules.items() if name.rpartition(".")[2] == "test_fuzz"), None)
    cases = getattr(fuzz, "CASES", None)
    if cases:
        kinds = [k for k in cases if " " not in k]
        terminalreporter.write_line("fuzz: " + "; ".join(
            f"{k}: {cases[k]} cases, {cases[k + ' refused']} refused, {cases[k + ' crashed']} crashed" for k in kinds))
