"""Calibrated GGUF: llama.cpp's importance matrix (llama-imatrix, then llama-quantize --imatrix), built from the
llama.cpp source of the installed llama-cpp-python and cached outside the repository."""

import json

import gguf
import pytest

from edgeslm.data import TextSet, default_eval_text, text_or_split
from edgeslm.errors import DataError, UsageError
from edgeslm.export import GGUFConfig, export
from edgeslm.export.gguf import read_lineage
from edgeslm.models.loader import DEMO_TEACHER, load_model, open_checkpoint
from edgeslm.targets import load_target
from edgeslm.verify import VerifyOptions, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher():
    ckpt = open_checkpoint(DEMO_TEACHER)
    return ckpt, load_model(ckpt)


def _field(path, key):
    f = gguf.GGUFReader(path).get_field(key)
    return None if f is None else f.contents()


@pytest.mark.parametrize("quant", ["Q4_K_M", "Q4_0"])
def test_calibrated_beats_plain_on_held_out_text(teacher, tmp_path, quant):
    """The issue's bar: calibrated on the train split only, lower mean KL than plain on the test split.
    Measured here (2,048 test tokens): Q4_K_M 0.00232 -> 0.00212, Q4_0 0.00289 -> 0.00247. Both files come
    from the same F32 GGUF and the same quantizer code, so the imatrix is the only difference."""
    ckpt, ref = teacher
    train, test = text_or_split(None, "train"), default_eval_text()
    assert train.sha256 != test.sha256
    opts = VerifyOptions(max_tokens=2048, runs=1, prompt_tokens=16, new_tokens=8)
    host = load_target("host")
    kl = {}
    for cal in (False, True):
        art = export(ckpt, GGUFConfig(quant, calibrate=cal), tmp_path / f"{quant}-{cal}.gguf")
        r = verify(art, ref, host, test, options=opts)
        assert r.failure is None
        kl[cal] = r.accuracy.mean_kl
        if cal:
            lineage = json.loads(read_lineage(art.path)["calibration"])
            assert lineage == {"method": "imatrix", "source": train.source, "sha256": train.sha256, "samples": 32,
                               "ctx": 256, "tokens": 8192}
            # llama-quantize's own record agrees: it used an imatrix of 32 chunks
            assert _field(art.path, "quantize.imatrix.chunks_count") == 32
            assert _field(art.path, "quantize.imatrix.file") == "imatrix.gguf"  # no local path in the file
        else:
            assert "calibration" not in read_lineage(art.path)
            assert _field(art.path, "quantize.imatrix.chunks_count") is None
    assert kl[True] < kl[False], kl


def test_types_without_an_importance_matrix_are_refused():
    with pytest.raises(UsageError, match="--calibrate does nothing for GGUF Q8_0"):
        GGUFConfig("Q8_0", calibrate=True)
    with pytest.raises(UsageError, match="--calibration-samples 0"):
        GGUFConfig("Q4_0", calibrate=True, calibration_samples=0)


def test_cli_short_calibration_text_is_a_clear_error_and_leaves_nothing(cli, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("def f():\n    return 1\n" * 10)
    out = tmp_path / "m.gguf"
    r = cli("export", str(DEMO_TEACHER), "--quant", "Q4_0", "--calibrate", "--calibration-data", str(short),
            "-o", str(out))
    assert r.exit_code == 2 and "llama-imatrix needs at least 512" in r.output and "Traceback" not in r.output
    assert not out.exists() and list(tmp_path.iterdir()) == [short]
    r = cli("export", str(DEMO_TEACHER), "--quant", "Q8_0", "--calibrate", "-o", str(out))
    assert r.exit_code == 2 and "only for Q6_K, Q5_K_M, Q4_K_M, Q4_0" in r.output and not out.exists()


def test_plan_takes_whole_chunks_up_to_the_samples():
    from edgeslm.quantize.imatrix import plan_calibration

    text = TextSet.of("x", "t")
    assert plan_calibration(text, 10_000, 32).samples == 32
    assert plan_calibration(text, 1_000, 32).samples == 3  # 1,000 // 256
    with pytest.raises(DataError, match="needs at least 512"):
        plan_calibration(text, 511, 32)
