"""Verify an artifact in its own runtime against the PyTorch reference.

    report = verify(open_artifact(Path("model.gguf")), load_model("ckpt/"), load_target("host"), default_eval_text())
    report.passed  # every gate of the target held
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable


from edgeslm.data import TextSet
from edgeslm.doctor import cpu_model
from edgeslm.devices import open_device, scrub
from edgeslm.errors import ConfigError, DataError, DeviceError, RuntimeFailure, UsageError
from edgeslm.export.base import Artifact
from edgeslm.formats import format_named
from edgeslm.models.loader import LoadedModel
from edgeslm.runners.base import SpeedResult, open_runner, stats_later
from edgeslm.runners.process import DEFAULT_TIMEOUT_S
from edgeslm.runners.torch import TorchRunner
from edgeslm.targets import ArtifactSpec, Gates, Target
from edgeslm.util import path_size
from edgeslm.verify.accuracy import AccuracyAccumulator, AccuracyStats
from edgeslm.verify.report import TokenizerParity, VerifyReport, check_gates
from edgeslm.verify.throughput import roofline_decode_tps

__all__ = ["VerifyOptions", "VerifyReport", "verify"]

MIN_EVAL_TOKENS = 16
KV_CACHE_TYPES = ("f16", "f32")  # runtime KV-cache precisions a runner may be asked for


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
    timeout_s: float = DEFAULT_TIMEOUT_S  # per request to the runtime process; past it the runtime counts as hung

    def __post_init__(self) -> None:
        for name, least in (("ctx", 8), ("max_tokens", 16), ("runs", 1), ("greedy_tokens", 1), ("prompt_tokens", 1),
                            ("new_tokens", 2)):
            if getattr(self, name) < least:
                raise ConfigError(name, f"must be at least {least}, not {getattr(self, name)}.")
        if not self.timeout_s > 0:
            raise ConfigError("timeout_s", f"must be a positive number of seconds, not {self.timeout_s}.")
        if self.kv_cache not in KV_CACHE_TYPES:
            raise ConfigError("kv_cache", f"must be one of {', '.join(KV_CACHE_TYPES)}, not {self.kv_cache!r}.")


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
    artifact: Artifact,
    reference: LoadedModel,
    target: Target,
    data: TextSet,
    *,
    gates: Gates | None = None,
    options: VerifyOptions | None = None,
    runner: str = "",
    log: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> VerifyReport:
    """Measure speed, tokenizer parity and accuracy of ``artifact`` and check the target's gates.

    The artifact runs in a runtime process of its own (``runner``: a registered
    runner name, default the format's own); the reference stays here. Speed
    is timed first, so the process's peak RSS is that of loading and timing.
    Accuracy is computed on the reference tokenizer's ids for ``data``, in
    windows of ``ctx`` tokens, each evaluated from an empty cache by both sides.

    A runtime that crashes, hangs or is killed does not raise: the report
    comes back with ``failure`` saying what happened, where, and the log
    (``log``, else a temporary file kept for the failure), and what was
    measured before it.

    Raises ArtifactError (the runtime refuses the file), DataError (too little text), UsageError.
    """
    opt = options or VerifyOptions()
    fmt, quant, path = format_named(artifact.format), artifact.quant, artifact.path
    if opt.ctx > reference.spec.max_position_embeddings:
        raise UsageError(f"--ctx {opt.ctx} exceeds the model's max_position_embeddings {reference.spec.max_position_embeddings}.")
    made_from = artifact.source_sha256
    if made_from and made_from != reference.ckpt.sha256:
        warnings.warn(f"{path.name} records that it was made from a checkpoint with sha256 {made_from[:12]}..., "
                      f"but the reference {reference.ckpt.name} is {reference.ckpt.sha256[:12]}...: the numbers compare "
                      "it against another model", stacklevel=2)
    spec = artifact_spec_for(target, fmt.name, quant)
    gates = gates or target.gates_for(spec)
    runner = runner or spec.runner

    ref = TorchRunner(reference)
    all_ids = ref.tokenize(data.text)
    if len(all_ids) < MIN_EVAL_TOKENS:
        raise DataError(f"{data.source} has only {len(all_ids)} tokens; verification needs at least {MIN_EVAL_TOKENS}.")
    ids = all_ids[: opt.max_tokens]
    bos = _bos(reference)
    step = opt.ctx - len(bos)
    windows = [w for w in (bos + ids[i : i + step] for i in range(0, len(ids), step)) if len(w) >= 2]
    timed_prompt = (ids * (opt.prompt_tokens // len(ids) + 1))[: opt.prompt_tokens]
    greedy_prompt = (bos + ids)[: min(32, opt.ctx // 2)]

    device = open_device(target.device) if target.device else None
    ctx = _Inputs(data.text, all_ids, ids, bos, windows, timed_prompt, greedy_prompt)
    m = _Measured()
    try:
        if device is not None and device.spec.mode == "binary":
            from edgeslm.verify.binary import measure_with_tools

            measure_with_tools(m, device, artifact, ref, target, opt, ctx, progress)
        else:
            _measure_with_runtime(m, device, path, ref, reference, target, opt, ctx, runner, log, progress)
    finally:
        if device is not None:
            device.cleanup()

    report = VerifyReport(
        artifact=str(path),
        format=fmt.name,
        quant=quant,
        target=target.name,
        reference={"name": reference.ckpt.name, "path": str(reference.ckpt.path), "sha256": reference.ckpt.sha256},
        data={"source": data.source, "sha256": data.sha256, "tokens": len(ids), "windows": len(windows), "ctx": opt.ctx},
        accuracy=m.accuracy,
        greedy_prefix_match=m.greedy,
        greedy_tokens=opt.greedy_tokens,
        tokenizer=m.parity,
        speed=m.speed,
        file_mib=path_size(path) / (1 << 20),
        roofline_decode_tps=roofline_decode_tps(fmt.bytes_per_token(path, reference.spec), target.memory_bandwidth_gbps),
        gates=(),
        runtime=m.runtime,
        failure=m.failure,
    )
    return replace(report, gates=check_gates(report, gates, apply_speed=not (
        target.measured_off_target or (target.device is not None and target.device.emulated))))


def _measure_with_runtime(m: "_Measured", device, path: Path, ref: TorchRunner, reference: LoadedModel, target: Target,
                          opt: VerifyOptions, ctx: "_Inputs", runner: str, log: Path | None, progress) -> None:
    """Speed, parity, accuracy and greedy agreement through the runtime protocol: a runtime process here, or the
    agent on ``device``. Fills ``m``; a runtime's or a device's failure becomes ``m.failure``."""
    doing = "loading the artifact"
    where = device.address if device else "this host"
    progress(f"loading {path.name} in its runtime" + (f" on {where}" if device else ""))
    try:
        with open_runner(path, threads=target.threads, kv_cache=opt.kv_cache, n_ctx=opt.ctx + 8, runner=runner,
                         log=log, timeout_s=opt.timeout_s, wait=False,
                         # this machine as a device: the runtime process here is already the agent
                         device=device if device is not None and device.kind != "local" else None) as rt:
            # The child starts Python, imports its runtime and loads the file meanwhile: the reference's
            # share that needs no answer from it is done now, so isolation costs little wall time.
            ref_greedy = ref.generate(ctx.greedy_prompt, opt.greedy_tokens).tokens
            ref_next = ref.logits(ctx.windows[0])
            getattr(rt, "ready", lambda: rt)()
            m.runtime = {"name": rt.name, "versions": rt.versions, **rt.info,
                         **_measured_where(target, device)}
            vocab = rt.info.get("vocab_size")
            if vocab and vocab != reference.spec.vocab_size:
                raise UsageError(
                    f"{path.name} has a vocabulary of {vocab} tokens and the reference {reference.ckpt.name} "
                    f"one of {reference.spec.vocab_size}: it was made from another model.",
                    hint="pass the checkpoint the artifact was exported from as --reference")
            # nothing else runs here while the runtime is timed
            doing = "timing"
            progress(f"timing {opt.runs} runs of {opt.prompt_tokens}+{opt.new_tokens} tokens at {target.threads} threads")
            m.speed = rt.time(ctx.timed_prompt, opt.new_tokens, opt.runs)
            doing = "tokenizing the evaluation text"
            m.parity = _tokenizer_parity(ctx.all_ids, rt.tokenize(ctx.text))
            progress(f"accuracy over {len(ctx.ids)} tokens in {len(ctx.windows)} windows of <= {opt.ctx}")
            acc = AccuracyAccumulator()
            for i, w in enumerate(ctx.windows, 1):
                doing = f"evaluating window {i} of {len(ctx.windows)}"
                # the runtime judges window i (on a device, against the reference's logits sent there)
                # while the reference computes window i + 1
                pending = stats_later(rt, w, ref_next)
                if i < len(ctx.windows):
                    ref_next = ref.logits(ctx.windows[i])
                acc.merge(pending())
            m.accuracy = acc.result()
            # greedy agreement from the same prompt: how many tokens until the first divergence
            doing = "generating greedy tokens"
            art_greedy = rt.generate(ctx.greedy_prompt, opt.greedy_tokens).tokens
            m.greedy = next((i for i, (a, b) in enumerate(zip(ref_greedy, art_greedy)) if a != b), len(ref_greedy))
    except RuntimeFailure as e:
        m.failure = scrub_for(device, e.while_doing(doing).message)
        progress(f"FAILED: {m.failure}")
    except DeviceError as e:
        m.failure = scrub_for(device, f"{e.message.rstrip('.')} (while {doing})" + (f"; {e.hint}" if e.hint else ""))
        m.runtime.setdefault("device", device.describe() if device else None)
        progress(f"FAILED: {m.failure}")



def _measured_where(target: Target, device) -> dict:
    """Where the numbers come from, for the report: the device and its fingerprint, or this host, said plainly."""
    if device is None:
        out = {"measured_on": "this host" if not target.measured_off_target else f"the host, not on {target.name}",
               "cpu": cpu_model()}
        if target.measured_off_target:
            out["note"] = (f"measured on the host, not on {target.name}: its profile names no [device], so speed "
                           "gates are shown but not applied")
        return out
    fp = device.fingerprint()
    out = {"measured_on": device.address, "device": device.describe(), "fingerprint": fp, "cpu": fp.get("cpu")}
    if device.spec.emulated:
        out["note"] = f"speeds measured under emulation ({device.spec.emulator}): labelled, never gated"
    return out


def scrub_for(device, text: str) -> str:
    return scrub(text, device.spec) if device is not None else text


@dataclass(frozen=True)
class _Inputs:
    """The reference's token ids for the evaluation text, cut the way both sides are fed."""

    text: str  # the evaluation text (tokenizer parity)
    all_ids: list[int]  # its reference ids
    ids: list[int]  # the first max_tokens (accuracy)
    bos: list[int]  # [bos_id] when the reference tokenizer adds one, else []
    windows: list[list[int]]  # bos + ids, in windows of <= ctx tokens
    timed_prompt: list[int]
    greedy_prompt: list[int]


@dataclass
class _Measured:
    """What verify has measured so far: a runtime failure keeps what came before it."""

    runtime: dict = field(default_factory=dict)
    speed: SpeedResult | None = None
    parity: TokenizerParity | None = None
    accuracy: AccuracyStats | None = None
    greedy: int | None = None
    failure: str | None = None
