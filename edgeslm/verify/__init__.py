"""Verify an artifact in its own runtime against the PyTorch reference.

    report = verify(Path("model.gguf"), load_model("ckpt/"), load_target("host"), default_eval_text())
    report.passed  # every gate of the target held
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from edgeslm.data import TextSet
from edgeslm.errors import DataError, UsageError
from edgeslm.models.loader import LoadedModel
from edgeslm.runners.base import format_of, open_runner
from edgeslm.runners.torch import TorchRunner
from edgeslm.targets import ArtifactSpec, Gates, Target
from edgeslm.util import path_size
from edgeslm.verify.accuracy import AccuracyAccumulator
from edgeslm.verify.report import TokenizerParity, VerifyReport, check_gates
from edgeslm.verify.throughput import BYTES_PER_TOKEN, measure_in_subprocess, roofline_decode_tps

__all__ = ["VerifyOptions", "VerifyReport", "verify"]

MIN_EVAL_TOKENS = 16


@dataclass(frozen=True)
class VerifyOptions:
    """How much to measure: accuracy windows, and the timed 128-token prompt plus 128 new tokens."""

    ctx: int = 256  # tokens per accuracy window
    max_tokens: int = 2048  # evaluation tokens used for accuracy
    prompt_tokens: int = 128
    new_tokens: int = 128
    runs: int = 3  # timed runs after one warm-up; medians reported
    kv_cache: str = "f16"  # runtime KV-cache precision for the accuracy pass ("f32" for exact parity)
    greedy_tokens: int = 32  # greedy tokens compared for the prefix-match length


def _bos(reference: LoadedModel) -> list[int]:
    """[bos_id] when the reference tokenizer adds BOS to every sequence, else []."""
    tok = reference.tokenizer
    with_special = tok.encode("a")
    without = tok.encode("a", add_special_tokens=False)
    return with_special[: len(with_special) - len(without)]


def _tokenizer_parity(ref_ids: list[int], rt_ids: list[int]) -> TokenizerParity:
    first = next((i for i, (a, b) in enumerate(zip(ref_ids, rt_ids)) if a != b), None)
    if first is None and len(ref_ids) != len(rt_ids):
        first = min(len(ref_ids), len(rt_ids))
    return TokenizerParity(first is None, len(ref_ids), len(rt_ids), first)


def artifact_spec_for(target: Target, fmt: str, quant: str) -> ArtifactSpec:
    """The target's entry for this artifact, or a bare one (target-wide gates) if it lists none."""
    return next((a for a in target.artifacts if a.format == fmt and a.quant == quant), ArtifactSpec(fmt, quant))


def verify(
    artifact: Path,
    reference: LoadedModel,
    target: Target,
    data: TextSet,
    *,
    quant: str | None = None,
    gates: Gates | None = None,
    options: VerifyOptions | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> VerifyReport:
    """Measure accuracy, tokenizer parity and speed of ``artifact`` and check the target's gates.

    Accuracy is computed on the reference tokenizer's ids for ``data``, in
    windows of ``ctx`` tokens, each evaluated from an empty cache by both sides.

    Raises ArtifactError (cannot load), DataError (too little text), UsageError.
    """
    opt = options or VerifyOptions()
    fmt = format_of(artifact)
    if opt.ctx > reference.spec.max_position_embeddings:
        raise UsageError(f"--ctx {opt.ctx} exceeds the model's max_position_embeddings {reference.spec.max_position_embeddings}.")
    quant = quant or _read_quant(artifact, fmt)
    gates = gates or target.gates_for(artifact_spec_for(target, fmt, quant))

    ref = TorchRunner(reference)
    all_ids = ref.tokenize(data.text)
    if len(all_ids) < MIN_EVAL_TOKENS:
        raise DataError(f"{data.source} has only {len(all_ids)} tokens; verification needs at least {MIN_EVAL_TOKENS}.")
    ids = all_ids[: opt.max_tokens]

    progress(f"loading {artifact.name} in its runtime")
    runner = open_runner(artifact, threads=target.threads, kv_cache=opt.kv_cache, n_ctx=opt.ctx + 8)
    try:
        parity = _tokenizer_parity(all_ids, runner.tokenize(data.text))
        bos = _bos(reference)
        acc = AccuracyAccumulator()
        step = opt.ctx - len(bos)
        windows = [bos + ids[i : i + step] for i in range(0, len(ids), step)]
        windows = [w for w in windows if len(w) >= 2]
        progress(f"accuracy over {len(ids)} tokens in {len(windows)} windows of <= {opt.ctx}")
        for w in windows:
            acc.add(ref.logits(w), runner.logits(w), np.asarray(w[1:]))
        # greedy agreement from the same prompt: how many tokens until the first divergence
        prompt = (bos + ids)[: min(32, opt.ctx // 2)]
        ref_greedy = ref.generate(prompt, opt.greedy_tokens).tokens
        art_greedy = runner.generate(prompt, opt.greedy_tokens).tokens
        greedy_match = next((i for i, (a, b) in enumerate(zip(ref_greedy, art_greedy)) if a != b), len(ref_greedy))
    finally:
        runner.close()

    prompt = (ids * (opt.prompt_tokens // len(ids) + 1))[: opt.prompt_tokens]
    progress(f"timing {opt.runs} runs of {opt.prompt_tokens}+{opt.new_tokens} tokens at {target.threads} threads")
    speed = measure_in_subprocess(artifact, target.threads, prompt, opt.new_tokens, opt.runs)
    size = path_size(artifact)
    report = VerifyReport(
        artifact=str(artifact),
        format=fmt,
        quant=quant,
        target=target.name,
        reference={"name": reference.ckpt.name, "path": str(reference.ckpt.path), "sha256": reference.ckpt.sha256},
        data={"source": data.source, "sha256": data.sha256, "tokens": len(ids), "windows": len(windows), "ctx": opt.ctx},
        accuracy=acc.result(),
        greedy_prefix_match=greedy_match,
        greedy_tokens=opt.greedy_tokens,
        tokenizer=parity,
        speed=speed,
        file_mib=size / (1 << 20),
        roofline_decode_tps=roofline_decode_tps(BYTES_PER_TOKEN[fmt](artifact, reference.spec), target.memory_bandwidth_gbps),
        gates=(),
    )
    return replace(report, gates=check_gates(report, gates))


def _read_quant(artifact: Path, fmt: str) -> str:
    """The quant type recorded in the artifact's lineage ("unknown" for files from other tools)."""
    if fmt == "gguf":
        from edgeslm.export.gguf import read_lineage

        return read_lineage(artifact).get("quant", "unknown")
    import json

    from edgeslm.export.base import LINEAGE_FILE

    lineage = (artifact if artifact.is_dir() else artifact.parent) / LINEAGE_FILE
    try:
        return json.loads(lineage.read_text())["quant"]
    except (OSError, ValueError, KeyError):
        return "unknown"
