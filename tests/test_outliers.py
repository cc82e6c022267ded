"""The outlier test model: what makes real models hard to quantize is really there, and the same by seed."""

import pytest
import torch

from edgeslm.errors import ConfigError
from edgeslm.models.outliers import OutlierConfig, build_outlier_model

# SmolLM2-135M's width and vocabulary at two layers: the planted features do not depend on depth
SHAPE = dict(vocab_size=8192, hidden_size=576, intermediate_size=1536, num_hidden_layers=2, num_attention_heads=9,
             num_key_value_heads=3, tie_word_embeddings=True, max_position_embeddings=512,
             rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
TEXT = "def main(argv):\n    return argv[0].strip() + str(len(argv))\n" * 200


@pytest.fixture(scope="module")
def outlier_model(tmp_path_factory):
    from edgeslm.models.loader import load_model

    return load_model(build_outlier_model(OutlierConfig(shape=SHAPE), tmp_path_factory.mktemp("o") / "m", TEXT, vocab=1024))


def _linear_inputs(lm, ids):
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, i[0][0].abs().mean(0)))
             for n, m in lm.model.named_modules() if n.endswith(("q_proj", "gate_proj"))]
    with torch.no_grad():
        logits = lm.model(ids).logits[0]
    for h in hooks:
        h.remove()
    return seen, logits


def test_every_linear_input_has_a_few_massive_channels(outlier_model):
    """LLM.int8()'s finding, planted: per-token int8 activation scales are set by a handful of channels 20-100x
    the median, which is what breaks 8-bit dynamic activations on real models."""
    ids = torch.tensor([outlier_model.tokenizer(TEXT[:3000])["input_ids"][:128]])
    seen, logits = _linear_inputs(outlier_model, ids)
    assert len(seen) == 4
    for name, mean_abs in seen.items():
        ratio = mean_abs / mean_abs.median()
        assert 20 <= ratio.max() <= 150, (name, ratio.max())
        k = OutlierConfig().outlier_channels
        assert float(ratio.topk(k).values.min()) >= 15, name  # every planted channel, not just one
        assert int((ratio > 10).sum()) <= 2 * k, name  # a few, not many: heavy tails add the odd one
    lp = torch.log_softmax(logits, -1)
    entropy = float(-(lp.exp() * lp).sum(-1).mean())
    assert 1.0 < entropy < 5.0  # peaked like a trained model's next-token distribution, not flat (ln 8192 = 9.0)


def test_weights_have_heavy_tails(outlier_model):
    """Student-t weights and wide rows: kurtosis far above a Gaussian's 3, so round-to-nearest 4-bit loses more."""
    w = outlier_model.model.model.layers[0].mlp.down_proj.weight.detach().flatten()
    z = (w - w.mean()) / w.std()
    assert float((z ** 4).mean()) > 6.0


def test_same_config_same_bytes_and_the_callers_random_state_is_kept(tmp_path):
    cfg = OutlierConfig(shape={**SHAPE, "num_hidden_layers": 1, "vocab_size": 2048})
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    a = build_outlier_model(cfg, tmp_path / "a", TEXT, vocab=512)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeding inside must not reseed the caller's draws
    b = build_outlier_model(cfg, tmp_path / "b", TEXT, vocab=512)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_impossible_configs_are_refused():
    with pytest.raises(ConfigError):
        OutlierConfig(shape=SHAPE, outlier_channels=300)
    with pytest.raises(ConfigError):
        OutlierConfig(shape=SHAPE, tail_df=2.0)
