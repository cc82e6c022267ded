"""SmoothQuant: the smoothed checkpoint computes the same function, with the activation outliers moved into weights."""

import json

import pytest
import torch

from edgeslm.calibrate import make_calibration
from edgeslm.data import TextSet
from edgeslm.errors import ConfigError
from edgeslm.models.loader import load_model, open_checkpoint
from edgeslm.quantize.smooth import SMOOTH_MARKER, smooth_checkpoint

TEXT = TextSet.of("import os\nimport sys\n\ndef main(argv):\n    return len(argv) + 1\n" * 120, "test text")


@pytest.mark.parametrize("extra", [{}, {"head": True, "reorder": True}], ids=["body", "head-reorder"])
@pytest.mark.parametrize("name", ["llama", "qwen2"])  # qwen2: q/k/v biases and tied embeddings
def test_smoothing_keeps_the_function(tiny, tmp_path, name, extra):
    """Exact in real arithmetic; fp32 rounding of rescaled weights moves logits by ~1e-6 of their spread.
    Smoothing the head unties it; reordering permutes every tensor that touches the residual stream."""
    ckpt = open_checkpoint(tiny(name))
    ref = load_model(ckpt)
    calib = make_calibration(ref.tokenizer, TEXT, n_samples=4, seq_len=64)
    smoothed, report = smooth_checkpoint(ckpt, calib, tmp_path / "s", alpha=0.5, **extra)
    ids = torch.tensor([ref.tokenizer.encode(TEXT.text[:400])[:64]])
    with torch.no_grad():
        a, b = ref.model(ids).logits, load_model(smoothed).model(ids).logits
    assert float((a - b).abs().max()) < 1e-4 * float(a.std())
    assert smoothed.sha256 != ckpt.sha256  # the weights did change
    marker = json.loads((smoothed.path / SMOOTH_MARKER).read_text())
    assert marker["source_sha256"] == ckpt.sha256 and marker["calibration"]["samples"] == 4
    assert marker["calibration"]["sha256"] == TEXT.sha256
    assert (marker["head"], marker["reordered"]) == (bool(extra), bool(extra))
    if extra:
        assert json.loads((smoothed.path / "config.json").read_text())["tie_word_embeddings"] is False
        moved = load_model(smoothed).model.model.embed_tokens.weight
        assert not torch.equal(moved, ref.model.model.embed_tokens.weight)  # columns did move


def _outlier_model(tmp_path, channels=4):
    from edgeslm.models.outliers import OutlierConfig, build_outlier_model

    shape = dict(vocab_size=4096, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=512,
                 rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
    return open_checkpoint(build_outlier_model(OutlierConfig(shape=shape, outlier_channels=channels), tmp_path / "o",
                                               TEXT.text, vocab=512))


def test_reordering_gathers_the_massive_channels_so_group_scales_spare_the_rest(tmp_path):
    """The massive channels come first, in one group of 32: an 8-bit group-wise embedding (ExecuTorch's
    --quantize-embeddings, llama.cpp's Q8_0) then has one group whose scale they set instead of one per channel,
    where the ordinary channels round to a level or two. The smoothed head no longer carries the massive
    channels' large embedding values (the final norm zeroes them in this model), so its per-row scales fit
    the channels it reads."""
    from edgeslm.quantize.sensitivity import fake_quant

    ckpt = _outlier_model(tmp_path)
    ref = load_model(ckpt).model
    calib = make_calibration(load_model(ckpt).tokenizer, TEXT, n_samples=4, seq_len=64)
    out = load_model(smooth_checkpoint(ckpt, calib, tmp_path / "s", alpha=0.5, head=True, reorder=True)[0]).model
    before, after = ref.model.embed_tokens.weight.detach(), out.model.embed_tokens.weight.detach()
    assert set(before.abs().amax(0).topk(4).indices.tolist()) != {0, 1, 2, 3}  # seeded: they start spread out
    assert set(after.abs().amax(0).topk(4).indices.tolist()) == {0, 1, 2, 3}

    def ordinary_error(w):  # mean squared error of 8-bit groups of 32 on all but the massive channels
        keep = torch.ones(w.shape[1], dtype=torch.bool)
        keep[w.abs().amax(0).topk(4).indices] = False
        return float((fake_quant(w, 8, 32, asymmetric=False) - w)[:, keep].pow(2).mean())

    assert ordinary_error(after) < 0.5 * ordinary_error(before), (ordinary_error(after), ordinary_error(before))
    head = out.lm_head.weight.detach()
    assert float(head[:, :4].abs().max()) < float(head[:, 4:].abs().max())


def test_outlier_channels_shrink(tmp_path):
    """On the outlier model (a few channels ~100x the median at every q/k/v and gate/up input), alpha 0.5 brings
    the worst ratio down to about its square root, which is what gives 8-bit activations their levels back."""
    ckpt = _outlier_model(tmp_path)
    calib = make_calibration(load_model(ckpt).tokenizer, TEXT, n_samples=4, seq_len=64)
    _, report = smooth_checkpoint(ckpt, calib, tmp_path / "s", alpha=0.5)
    assert report.max_ratio_before > 40 and report.max_ratio_after < report.max_ratio_before ** 0.5 * 2, report


def test_alpha_outside_zero_one_is_refused(tiny, tmp_path):
    ckpt = open_checkpoint(tiny("llama"))
    calib = make_calibration(load_model(ckpt).tokenizer, TEXT, n_samples=1, seq_len=32)
    with pytest.raises(ConfigError):
        smooth_checkpoint(ckpt, calib, tmp_path / "s", alpha=1.0)
