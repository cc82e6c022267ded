"""Train a small Llama from scratch on a text corpus: how the demo teacher is made.

    edgeslm train -o examples/demo-teacher          # the demo teacher recipe (defaults)

Writes a Hugging Face checkpoint (config.json, model.safetensors in fp16,
tokenizer.json, generation_config.json), plus training.json (the recipe,
corpus hash, losses, timing) and loss.png. Run checkpoints go to OUT/run/.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgeslm.corpus import stdlib_corpus
from edgeslm.errors import UsageError
from edgeslm.manifest import file_sha256
from edgeslm.outputs import check_output, stage_output, start_run_folder
from edgeslm.data import TextSet
from edgeslm.models.loader import CheckpointDir, open_checkpoint
from edgeslm.train.plot import plot_losses
from edgeslm.train.batches import TokenWindows, eval_windows
from edgeslm.train.loop import StepInfo, TokenEval, TrainConfig, evaluate, train
from edgeslm.util import perplexity


@dataclass(frozen=True)
class TeacherConfig:
    hidden_size: int = 512  # multiples of 256: every GGUF K-quant fits without fallback
    intermediate_size: int = 1536
    num_layers: int = 4
    num_heads: int = 8
    num_kv_heads: int = 2
    vocab_size: int = 8192
    max_position_embeddings: int = 1024
    rope_theta: float = 10000.0
    init_std: float = 0.02


@dataclass(frozen=True)
class TrainedTeacher:
    """What `edgeslm train` returns: the checkpoint it wrote and training.json's record."""

    checkpoint: CheckpointDir
    record: dict  # params, recipe, corpus hash, test perplexity, unigram baseline, timing


def encode(tokenizer, text: TextSet) -> np.ndarray:
    """Token ids of a text, as one uint16/uint32 stream."""
    ids = tokenizer.encode(text.text).ids
    return np.asarray(ids, dtype=np.uint16 if max(ids) < 65536 else np.uint32)


def unigram_ppl(train_ids: np.ndarray, test_ids: np.ndarray, vocab: int) -> float:
    """Perplexity of add-one-smoothed unigram frequencies from train, on test: the floor to beat."""
    counts = np.bincount(train_ids, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(np.exp(-logp[test_ids].mean()))


def train_teacher(
    out: Path, model_cfg: TeacherConfig, train_cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False,
    progress: Callable[[str], None] = print, on_step: Callable[[StepInfo], None] | None = None,
) -> TrainedTeacher:
    """Train the demo-teacher recipe into the stage folder ``out`` (checkpoints in out/run, kept on resume).

    Raises OutputPathError, UsageError."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from edgeslm.models.tiny import train_tokenizer

    if resume and not (out / "run").is_dir():
        raise UsageError(f"--resume: {out} holds no run to continue ({out}/run is missing).",
                         hint="drop --resume to start a new run")
    if not resume:
        check_output(out, folder=True, overwrite=overwrite)
        start_run_folder(out)
    corpus = stdlib_corpus()
    progress(f"corpus stdlib (python {corpus.python_version}): {len(corpus.files['train'])} train files, sha256 {corpus.sha256[:16]}")
    tok_path = out / "run" / "tokenizer.json"
    if resume and tok_path.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_path))
    else:
        progress(f"training a {model_cfg.vocab_size}-token byte-level BPE tokenizer on the train split")
        tok = train_tokenizer("gpt2", model_cfg.vocab_size, corpus.splits["train"].text)
        tok_path.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(tok_path))
    ids = {s: encode(tok, corpus.splits[s]) for s in ("train", "validation", "test")}
    progress("tokens: " + ", ".join(f"{s} {len(v):,}" for s, v in ids.items()))

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(train_cfg.seed)
    cfg = LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=model_cfg.hidden_size,
        intermediate_size=model_cfg.intermediate_size, num_hidden_layers=model_cfg.num_layers,
        num_attention_heads=model_cfg.num_heads, num_key_value_heads=model_cfg.num_kv_heads,
        max_position_embeddings=model_cfg.max_position_embeddings, tie_word_embeddings=True,
        initializer_range=model_cfg.init_std, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": model_cfg.rope_theta},
    )
    model = LlamaForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    progress(f"model: {n_params / 1e6:.1f}M parameters")
    t0 = time.perf_counter()
    val = TokenEval(eval_windows(ids["validation"], train_cfg.seq_len, train_cfg.eval_batches * train_cfg.batch_size))
    result = train(model, TokenWindows(ids["train"], train_cfg), train_cfg, out / "run", evaluator=val, resume=resume,
                   progress=progress, on_step=on_step)

    test_loss = evaluate(model, ids["test"], TrainConfig(**{**asdict(train_cfg), "eval_batches": 10_000}))
    uni = unigram_ppl(ids["train"], ids["test"], tok.get_vocab_size())
    record = {
        "params": n_params,
        "model": asdict(model_cfg),
        "train": asdict(train_cfg),
        "corpus": {"name": "stdlib", "python": corpus.python_version, "sha256": corpus.sha256,
                   "tokens": {s: int(len(v)) for s, v in ids.items()}},
        "test_ppl": perplexity(test_loss),
        "unigram_test_ppl": uni,
        "final_train_loss": result.loss[-1],
        "validation": dict(zip(result.eval_steps, result.eval_loss)),
        "train_tokens_per_s": result.tokens_per_s,
        "wall_s_this_session": time.perf_counter() - t0,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads, {platform.processor() or platform.platform()}",
        "torch": torch.__version__,
    }
    inputs = {"corpus": corpus.sha256, "tokenizer": file_sha256(tok_path)}
    with stage_output(out, "train", {"model": asdict(model_cfg), "train": asdict(train_cfg)}, inputs,
                      carry=("run",)) as tmp:
        model.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
        fast.save_pretrained(tmp)
        GenerationConfig(bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id).save_pretrained(tmp)
        plot_losses(result, tmp / "loss.png", f"demo teacher ({n_params / 1e6:.1f}M) on stdlib Python")
        (tmp / "training.json").write_text(json.dumps(record, indent=2))
    return TrainedTeacher(open_checkpoint(out), record)

