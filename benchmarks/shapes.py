"""Random models of real shapes, for benchmarks that need real sizes, not trained quality.

SmolLM2-135M: hidden 576, 30 layers, 9 heads / 3 KV heads, ffn 1536, vocab 49152,
tied embeddings (134.5M parameters). The tokenizer is a 4096-id BPE trained on the
stdlib corpus: its ids index the first rows of the 49152-row embedding, so every
matmul and the vocabulary-sized softmax keep their real cost.
"""

from __future__ import annotations

from pathlib import Path

SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                    max_position_embeddings=2048,
                    rope_parameters={"rope_type": "default", "rope_theta": 100000.0})


def smollm2_135m(out: Path, text: str, seed: int = 0) -> Path:
    """Write a seeded random Llama of SmolLM2-135M's shape and a tokenizer to `out`; return `out`.

    `text` trains the tokenizer (use a split the benchmark does not measure on).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from edgeslm.models.tiny import train_tokenizer

    tok = train_tokenizer("smollm", 4096, text)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M))
    model.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(out)
    return out
