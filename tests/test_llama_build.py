"""How llama.cpp is compiled: never AMX, everything else the CPU has; and what `edgeslm doctor` says.

The flag choice is tested on /proc/cpuinfo texts of CPUs this machine is not
(an AMX Xeon, a Raspberry Pi 5, a Graviton3), because the fix must not depend
on the CPU the tests happen to run on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeslm.llama_build import cmake_args_for, cpu_flags

ROOT = Path(__file__).resolve().parent.parent

# The flags lines of real CPUs, shortened to what matters.
SAPPHIRE_RAPIDS = ("flags : fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2 avx512f avx512dq avx512cd "
                   "avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8\n")
ZEN2 = "flags : fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2\n"
RPI5 = "Features : fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
GRAVITON3 = "Features : fp asimd fphp asimdhp asimddp sve i8mm bf16 svebf16\n"


def _opts(args: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in args)


def test_amx_cpu_gets_everything_but_amx():
    o = _opts(cmake_args_for("x86_64", "Linux", cpu_flags(SAPPHIRE_RAPIDS)))
    assert o["GGML_NATIVE"] == "OFF"  # -march=native is what turned the AMX backend on
    for amx in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"):
        assert o[amx] == "OFF"
    for kept in ("GGML_AVX2", "GGML_AVX512", "GGML_AVX512_VNNI", "GGML_AVX512_BF16", "GGML_AVX512_VBMI",
                 "GGML_AVX_VNNI", "GGML_FMA", "GGML_F16C"):
        assert o[kept] == "ON", kept


def test_cpu_without_avx512_does_not_get_it():
    o = _opts(cmake_args_for("x86_64", "Linux", cpu_flags(ZEN2)))
    assert o["GGML_AVX2"] == "ON" and o["GGML_AVX512"] == "OFF" and o["GGML_AVX512_VNNI"] == "OFF"


@pytest.mark.parametrize(("cpuinfo", "arch"), [
    (RPI5, "armv8.2-a+dotprod+fp16"),
    (GRAVITON3, "armv8.2-a+dotprod+i8mm+fp16+sve"),
    ("Features : fp asimd\n", "armv8-a"),
])
def test_arm_keeps_neon_dotprod_and_i8mm(cpuinfo, arch):
    o = _opts(cmake_args_for("aarch64", "Linux", cpu_flags(cpuinfo)))
    assert o == {"GGML_NATIVE": "OFF", "GGML_CPU_ARM_ARCH": arch}


def _plan(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "install_llama_cpp.py"), "--show"],
                         capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}, check=True).stdout
    return json.loads(out)


def test_user_cmake_args_win_and_change_the_cache_key():
    plain, custom = _plan({}), _plan({"CMAKE_ARGS": "-DGGML_AVX512=OFF"})
    assert custom["cmake_args"][-1] == "-DGGML_AVX512=OFF"  # after ours: CMake takes the last -D
    assert custom["cmake_args"][:-1] == plain["cmake_args"]
    # a wheel built with other flags is never reused for these
    assert custom["key"] != plain["key"]


def test_installed_llama_cpp_has_no_amx():
    """The library the suite runs on was built without the backend that crashed."""
    info = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
                          capture_output=True, text=True, check=True).stdout
    assert "AVX" in info or "NEON" in info, info  # really llama.cpp's feature list
    assert "AMX_INT8 = 1" not in info


def test_doctor_prints_what_a_bug_report_needs(cli):
    res = cli("doctor")
    assert res.exit_code == 0, res.output
    for package in ("torch", "transformers", "executorch", "torchao", "onnxruntime", "onnxruntime-genai",
                    "llama-cpp-python"):
        assert f"\n  {package} " in res.stdout, package
    info = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert info in res.stdout
    assert "usable cores" in res.stdout and "model" in res.stdout


def test_doctor_warns_about_an_amx_build():
    from edgeslm.runners.llamacpp import unsafe_features

    assert unsafe_features("CPU : AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1") == ["AMX_INT8 = 1"]
    assert unsafe_features("CPU : AVX512_BF16 = 1 | LLAMAFILE = 1") == []


def test_manifest_records_every_runtime_version():
    from edgeslm.manifest import environment

    env = environment()
    for dist in ("executorch", "torchao", "onnxruntime", "onnxruntime-genai", "llama-cpp-python"):
        assert env[dist] not in ("", "absent"), dist


def test_amx_guard_loads_without_extra_buffer_types(gguf_file):
    """A build with AMX_INT8 = 1 (a user's own CMAKE_ARGS) loads models without the extra buffer types
    where the AMX repack lives, and still computes the same logits."""
    code = f"""
import numpy as np
import llama_cpp.llama_cpp as lib
import edgeslm.runners.llamacpp as m
from edgeslm.runners.base import RunnerOptions
path, ids = {str(gguf_file("llama", "Q8_0"))!r}, list(range(5, 45))
plain = m.LlamaCppRunner(path, RunnerOptions(threads=1, kv_cache="f32")).logits(ids)
assert lib.llama_model_default_params().use_extra_bufts is True
m.system_info = lambda: "CPU : AVX512 = 1 | AMX_INT8 = 1 |"
guarded = m.LlamaCppRunner(path, RunnerOptions(threads=1, kv_cache="f32")).logits(ids)
assert lib.llama_model_default_params().use_extra_bufts is False
print(float(np.abs(plain - guarded).max()), bool((plain.argmax(-1) == guarded.argmax(-1)).all()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # the same kernels either way on a build without AMX: only the buffer placement differs
    assert float(out[0]) < 1e-4 and out[1] == "True"


NOISE = ("Failed to load", "_pytree", "register_constant", "Loading weights", "Detected no triton", "I tokenizers:",
         "llama_model_loader", "ggml_")


def test_no_library_noise_without_debug(tiny, gguf_file, tmp_path):
    """Users see edgeslm's own progress only: no torchao, torch, transformers or runtime lines."""
    model = tiny("llama")
    data = tmp_path / "data.txt"
    data.write_text("\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(300)))
    commands = {
        "export": ["export", model, "--format", "executorch", "--quant", "8da4w", "-o", tmp_path / "et"],
        "verify": ["verify", gguf_file("llama", "Q8_0"), "--reference", model, "--target", ROOT / "tests/data/loose-target.toml",
                   "--max-tokens", "64", "--runs", "1"],
        "build": ["build", model, "--target", ROOT / "tests/data/loose-target.toml", "-o", tmp_path / "b",
                  "--max-tokens", "64", "--runs", "1"],
        "prune": ["prune", model, "-o", tmp_path / "p", "--drop-layers", "1", "--calib-samples", "2", "--seq-len", "32"],
        # the student is the pruned model from the step before
        "distill": ["distill", "--teacher", model, "--student", tmp_path / "p", "-o", tmp_path / "d", "--data", data,
                    "--max-steps", "2", "--seq-len", "32", "--batch-size", "4", "--eval-every", "2"],
    }
    for name, args in commands.items():
        res = subprocess.run([sys.executable, "-m", "edgeslm", *map(str, args)], capture_output=True, text=True)
        assert res.returncode == 0, (name, res.stderr[-2000:])
        lines = [ln for ln in (res.stdout + res.stderr).splitlines() if any(n in ln for n in NOISE)]
        assert lines == [], name
    debug = subprocess.run([sys.executable, "-m", "edgeslm", "--debug", *map(str, commands["verify"])],
                           capture_output=True, text=True)
    assert "Failed to load" in debug.stderr  # --debug brings the libraries' own lines back
