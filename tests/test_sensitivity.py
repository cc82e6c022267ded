"""Measured 4-bit sensitivity: the emulated rounding is onnxruntime's, the per-group KL is exact bookkeeping,
and the chosen groups respect the budget."""

import numpy as np
import pytest
import torch

from edgeslm.calibrate import make_calibration
from edgeslm.data import TextSet
from edgeslm.models.loader import load_model, open_checkpoint
from edgeslm.quantize.sensitivity import GROUPS, GroupSensitivity, _from_layer, choose, fake_quant, measure

TEXT = TextSet.of("import os\nimport sys\n\ndef main(argv):\n    return len(argv) + 1\n" * 120, "test text")


def _ort_dequantized(w: np.ndarray, block: int, symmetric: bool) -> np.ndarray:
    """W [out, in] as onnxruntime's MatMulNBits computes with it: quantized by its own quantizer, read back
    by multiplying the identity (accuracy_level 0: fp32 compute, so nothing else rounds)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    n_out, n_in = w.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n_out])],
        [numpy_helper.from_array(w.T.copy(), "W")])
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    q = MatMulNBitsQuantizer(model, algo_config=DefaultWeightOnlyQuantConfig(
        block_size=block, is_symmetric=symmetric, accuracy_level=0))
    q.process()
    assert any(n.op_type == "MatMulNBits" for n in q.model.model.graph.node)
    sess = ort.InferenceSession(q.model.model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": np.eye(n_in, dtype=np.float32)})[0].T  # [out, in]


@pytest.mark.parametrize("symmetric", [True, False])
def test_emulated_rounding_is_onnxruntimes(symmetric):
    """The ranking is only as good as the emulation: it must give the weights the runtime will compute with.
    Heavy-tailed rows (Student-t) so the block maxima, where the two schemes differ, matter. Tolerance: 1e-4
    of a quantization step (fp32 arithmetic order); a single rounding disagreement would be a whole step."""
    torch.manual_seed(0)
    w = torch.distributions.StudentT(3.0).sample((48, 96)) * 0.05
    w[3, :32] = 0  # an all-zero block: scale 0 must not divide
    ref = _ort_dequantized(w.numpy(), 32, symmetric)
    ours = fake_quant(w, 4, 32, asymmetric=not symmetric).numpy()
    step = float(np.abs(w.numpy()).max()) / 7
    assert np.abs(ours - ref).max() < 1e-4 * step, np.abs(ours - ref).max()
    assert not np.allclose(ours, w.numpy(), atol=step / 100)  # it did round


def test_running_from_a_layer_is_the_full_forward(tiny):
    """Sensitivity runs only the layers from the perturbed one on, with the recorded input of that layer: exact."""
    ref = load_model(open_checkpoint(tiny("llama")))
    model = ref.model.float().eval()
    calib = make_calibration(ref.tokenizer, TEXT, n_samples=2, seq_len=64)
    ids = torch.as_tensor(calib.samples)
    with torch.no_grad():
        out = model(ids, output_hidden_states=True, use_cache=False)
    full = torch.log_softmax(out.logits.float(), -1)
    for i in range(len(model.model.layers)):
        assert torch.equal(_from_layer(model, i, out.hidden_states[i], ids), full)


def test_measure_restores_weights_and_finds_a_planted_weak_group(tiny):
    """Planted without changing the function: one column per 32-block of layer 1's down_proj scaled 30x and the
    matching up_proj row scaled 1/30 (down is linear in up's output). Each of down's blocks now has a scale
    set by one outlier, so its other 31 weights round to nothing, as in real models' outlier columns; no other
    group's rounding changes. That group must rank first, and measuring must leave the model bit-identical."""
    ref = load_model(open_checkpoint(tiny("llama")))
    model = ref.model.float().eval()
    with torch.no_grad():
        mlp = model.model.layers[1].mlp
        cols = torch.arange(5, mlp.down_proj.weight.shape[1], 32)
        mlp.down_proj.weight[:, cols] *= 30
        mlp.up_proj.weight[cols, :] /= 30
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calib = make_calibration(ref.tokenizer, TEXT, n_samples=2, seq_len=64)
    res = measure(model, calib, bits=4, block=32, asymmetric=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert len(res) == len(model.model.layers) * len(GROUPS) and all(r.kl >= 0 for r in res)
    top = max(res, key=lambda r: r.kl / r.params)
    assert (top.layer, top.group) == (1, "down"), sorted(res, key=lambda r: -r.kl / r.params)[:3]


def test_choose_spends_the_budget_on_kl_per_weight():
    groups = [GroupSensitivity(0, "qkv", 100, 1.0), GroupSensitivity(0, "down", 300, 1.5),
              GroupSensitivity(1, "qkv", 100, 0.2), GroupSensitivity(1, "down", 300, 0.0)]
    # body 800 weights; 25% = 200: qkv0 (0.01/w) first, then down0 (0.005/w) does not fit, qkv1 (0.002/w) does
    assert [(g.layer, g.group) for g in choose(groups, 0.25)] == [(0, "qkv"), (1, "qkv")]
    assert choose(groups, 0.0) == []
    assert {(g.layer, g.group) for g in choose(groups, 1.0)} == {(0, "qkv"), (0, "down"), (1, "qkv")}  # KL 0: no gain
