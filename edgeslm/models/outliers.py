"""A seeded model of a real model's shape with the features that make real models hard to quantize.

Trained LLMs have a few hidden channels whose activations run 20-100x the
rest (LLM.int8(), Dettmers et al. 2022; "Massive Activations in Large
Language Models", Sun et al. 2024), and weight rows with heavy tails. A
random or briefly trained model has neither, so every quantizer looks good on
it. This model plants both, by seed, so a 4-bit method that breaks on real
models breaks here too:

- massive activations: ``outlier_channels`` hidden channels of every token
  embedding are ``outlier_scale`` times the others, with one sign, so they
  dominate the residual stream and every RMSNorm's output (the inputs of
  q/k/v, gate/up); no layer writes to them, so they persist to the last
  layer, and the final norm zeroes them, as trained models learn to, so the
  tied head reads the ordinary channels;
- depth: o_proj and down_proj start at 1/sqrt(2 x layers) of the spread
  (GPT-2's residual scaling) and the embedding at ``embedding_gain`` times,
  so the ordinary channels grow slowly with depth and the massive ones stay
  20-100x them from the first layer to the last;
- heavy tails: every weight is Student-t with ``tail_df`` degrees of freedom,
  and ``heavy_rows`` of each matrix's output rows have ``heavy_row_scale``
  times the spread;
- peaked predictions: the final norm's gain is set so the next-token
  distribution on the tokenizer's text has ``entropy`` nats on average, as a
  trained model's has a few, instead of being flat over 49,152 ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeslm.errors import ConfigError

# SmolLM2-135M: hidden 576, 30 layers, 9 heads / 3 KV heads, ffn 1536, vocab 49152, tied embeddings (134.5M)
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                    max_position_embeddings=2048,
                    rope_parameters={"rope_type": "default", "rope_theta": 100000.0})


@dataclass(frozen=True)
class OutlierConfig:
    shape: dict = field(default_factory=lambda: dict(SMOLLM2_135M))  # LlamaConfig fields
    seed: int = 0
    outlier_channels: int = 6  # hidden channels carrying massive activations
    outlier_scale: float = 60.0  # their size relative to the other channels (20-100x in trained models)
    tail_df: float = 4.0  # Student-t degrees of freedom of every weight: lower is heavier
    heavy_rows: float = 0.02  # share of each matrix's output rows with a wider spread
    heavy_row_scale: float = 4.0
    init_std: float = 0.02  # HF's initializer_range
    embedding_gain: float = 5.0  # the embedding's spread over init_std: the layers' writes stay small beside it
    entropy: float = 2.5  # nats: the mean next-token entropy the final norm's gain is set to

    def __post_init__(self) -> None:
        hidden = int(self.shape.get("hidden_size", 0))
        if not 0 <= self.outlier_channels < hidden // 4:
            raise ConfigError("outlier_channels", f"{self.outlier_channels} must be below a quarter of hidden {hidden}.")
        if self.outlier_scale < 1 or self.tail_df <= 2 or not 0 <= self.heavy_rows < 1 or self.entropy <= 0:
            raise ConfigError("outlier_scale", "needs outlier_scale >= 1, tail_df > 2 (finite variance), "
                                               "0 <= heavy_rows < 1 and entropy > 0.")


def build_outlier_model(cfg: OutlierConfig, out_dir: str | Path, text: str, vocab: int = 4096) -> Path:
    """Write the model (config, safetensors, a ``vocab``-id SmolLM-style tokenizer trained on ``text``) to ``out_dir``.

    The tokenizer's ids index the first rows of the (larger) embedding, so every
    matmul and the vocabulary-sized softmax keep the shape's real cost. Same
    ``cfg`` and ``text``, same bytes. Raises ConfigError for an impossible config.
    """
    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    from edgeslm.models.tiny import train_tokenizer

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer("smollm", vocab, text),
                                   bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    shape = {**cfg.shape, "bos_token_id": fast.bos_token_id, "eos_token_id": fast.eos_token_id,
             "initializer_range": cfg.init_std, "rms_norm_eps": 1e-5}
    # the model's own init and StudentT draw from torch's global generator: fork it, so the caller's
    # random state is left as it was
    with torch.random.fork_rng(devices=[]):
        model = _planted(shape, cfg, fast, text)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    GenerationConfig(bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id).save_pretrained(out)
    return out


def _planted(shape: dict, cfg: OutlierConfig, fast, text: str):
    """The Llama of ``shape`` with cfg's outlier channels, heavy-tailed weights and peaked head."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from edgeslm.util import HOST_MODEL_LOCK

    with HOST_MODEL_LOCK:
        model = LlamaForCausalLM(LlamaConfig(**shape))
    g = torch.Generator().manual_seed(cfg.seed)
    t = torch.distributions.StudentT(torch.tensor(cfg.tail_df))
    unit = (cfg.tail_df / (cfg.tail_df - 2)) ** -0.5  # a Student-t with unit variance
    hidden = shape["hidden_size"]
    channels = torch.randperm(hidden, generator=g)[: cfg.outlier_channels]
    residual_scale = (2 * shape["num_hidden_layers"]) ** -0.5
    with torch.no_grad():
        torch.manual_seed(cfg.seed)  # StudentT samples only from the global generator (forked above)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.75)
                continue
            w = t.sample(p.shape) * unit * cfg.init_std
            rows = torch.rand(p.shape[0], generator=g) < cfg.heavy_rows
            w[rows] *= cfg.heavy_row_scale
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                w *= residual_scale
                w[channels] = 0.0  # rows that write the residual: the massive channels stay as the embedding set them
            p.copy_(w)
        emb = model.model.embed_tokens.weight
        emb.mul_(cfg.embedding_gain)
        emb[:, channels] = emb[:, channels].abs() + cfg.outlier_scale * emb.std()
        final = model.model.norm.weight
        final[channels] = 0.0  # the head reads the ordinary channels
        ids = torch.tensor([fast(text[:20_000])["input_ids"][:512]])
        final.mul_(_gain_for_entropy(model(ids).logits[0], cfg.entropy))
    return model


def _gain_for_entropy(logits, nats: float) -> float:
    """The factor on ``logits`` ([positions, vocab]) that makes the mean softmax entropy ``nats`` (bisection on a
    log scale: entropy falls as the logits are scaled up)."""
    import torch

    def entropy(s: float) -> float:
        lp = torch.log_softmax(logits * s, -1)
        return float(-(lp.exp() * lp).sum(-1).mean())

    lo, hi = 1e-3, 1e3
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if entropy(mid) > nats else (lo, mid)
    return (lo * hi) ** 0.5
