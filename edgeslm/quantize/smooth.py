"""SmoothQuant (Xiao et al. 2023): move activation outliers into the weights, exactly, before 8-bit activations.

Runtimes that quantize activations per token at run time (ExecuTorch's 8da:
int8 dynamic activations) give every channel of a token one scale. A few
channels 50-100x the rest (real models have them) take that scale, and the
other channels keep one or two of the 256 levels. SmoothQuant divides each
input channel j of a linear layer by s_j and multiplies the weight's column j
by s_j, with

    s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha)

measured on calibration data, so activations and weights share the range.
The division is folded into what produces X, so the model computes the same
function in exact arithmetic and nothing is added at run time:

- q/k/v and gate/up read an RMSNorm's output: its gain is divided by s;
- down_proj reads silu(gate) * up: up_proj's output rows are divided by s;
- the output head reads the final RMSNorm: its gain is divided by s. The head
  then has its own weights (a tied model is untied: ExecuTorch stores the
  embedding and the head apart in any case).

Then the residual stream's channels are reordered, largest activations first
(RPTQ, Yuan et al. 2023): a permutation of the hidden channels applied to the
embedding's columns, every RMSNorm gain, the columns of every linear that
reads the stream and the rows of every linear that writes it is exact, as
RMSNorm does not depend on channel order. Group-wise quantization (the 4- and
8-bit embedding, 4-bit linears in groups of 32) then finds the massive
channels together in one group instead of one in each of six, where they
would set the scale and round the other 26-31 channels of the group to zero.

Shapes: every s is [in_features] of the layer it smooths; the order is [hidden].
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeslm.calibrate import Calibration
from edgeslm.errors import ConfigError, ExportError
from edgeslm.models.loader import CheckpointDir, load_model, open_checkpoint

# (what produces the input, how it is divided, the linears that read it): HF Llama/Qwen2 names within a layer
_GROUPS = (
    ("input_layernorm.weight", "gain", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ("post_attention_layernorm.weight", "gain", ("mlp.gate_proj", "mlp.up_proj")),
    ("mlp.up_proj.weight", "rows", ("mlp.down_proj",)),
)
# within a layer: what reads the residual stream (its columns or gain follow the order) and what writes it (rows)
_READS = ("input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
          "self_attn.k_proj.weight", "self_attn.v_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight")
_WRITES = ("self_attn.o_proj.weight", "self_attn.o_proj.bias", "mlp.down_proj.weight", "mlp.down_proj.bias")
SMOOTH_MARKER = "edgeslm-smooth.json"  # in the smoothed checkpoint: alpha and the calibration it came from


@dataclass(frozen=True)
class SmoothReport:
    """What smoothing did: alpha, the calibration, and the worst channel ratio before and after, per group."""

    alpha: float
    calibration: dict
    max_ratio_before: float  # max over layers of max|X_j| / median_j max|X_j|
    max_ratio_after: float
    head: bool = False  # the output head was smoothed too
    reordered: bool = False  # the residual stream's channels were reordered, largest first

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "calibration": self.calibration, "max_ratio_before": self.max_ratio_before,
                "max_ratio_after": self.max_ratio_after, "head": self.head, "reordered": self.reordered}


RESIDUAL = "residual"  # activation_absmax's key for the residual stream's channels


def activation_absmax(model, calib: Calibration) -> dict[str, "torch.Tensor"]:
    """max |input| per input channel over all calibration tokens: name -> [in_features], for every smoothed
    linear ("layers.3.mlp.down_proj"), the head ("lm_head") and the residual stream (RESIDUAL: what every
    layer's first RMSNorm and the final one read, embedding output included)."""
    import torch

    seen: dict[str, torch.Tensor] = {}
    readers = {f"layers.{i}.{lin}" for i in range(len(model.model.layers)) for _, _, lins in _GROUPS for lin in lins}
    readers.add("lm_head")
    norms = {f"layers.{i}.input_layernorm" for i in range(len(model.model.layers))} | {"norm"}

    def hook(name):
        def f(_m, inputs, _out):
            a = inputs[0].detach().abs().flatten(0, -2).amax(0).float()
            seen[name] = torch.maximum(seen[name], a) if name in seen else a
        return f

    handles = [m.register_forward_hook(hook(n.removeprefix("model."))) for n, m in model.named_modules()
               if n.removeprefix("model.") in readers]
    handles += [m.register_forward_hook(hook(RESIDUAL)) for n, m in model.named_modules()
                if n.removeprefix("model.") in norms]
    try:
        calib.forward_loop(model)
    finally:
        for h in handles:
            h.remove()
    return seen


def _scales(act: "torch.Tensor", w: "torch.Tensor", alpha: float) -> "torch.Tensor":
    """SmoothQuant's s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha), both floored at 1e-5: [in_features]."""
    return (act.clamp(min=1e-5).pow(alpha) / w.clamp(min=1e-5).pow(1 - alpha)).clamp(min=1e-5)


def _reorder(state: dict, order: "torch.Tensor", layers: int, name: str) -> None:
    """Permute the residual stream's channels by ``order`` [hidden] in ``state`` (HF names), in place: the
    embedding's and head's columns, every layer's readers (_READS) and writers (_WRITES), the final norm.
    Raises ExportError for a tensor the permutation would miss, as the model would no longer be the same."""
    done = {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"}
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        if key in state:
            state[key] = state[key][:, order].contiguous()
    state["model.norm.weight"] = state["model.norm.weight"][order].contiguous()
    for i in range(layers):
        pre = f"model.layers.{i}."
        for key in _READS:
            t = state[pre + key]
            state[pre + key] = (t[order] if t.dim() == 1 else t[:, order]).contiguous()
        for key in _WRITES:
            if pre + key in state:
                state[pre + key] = state[pre + key][order].contiguous()
        done |= {pre + k for k in (*_READS, *_WRITES)}
    left = [k for k in state if k not in done and ".self_attn.q_proj.bias" not in k and ".self_attn.k_proj.bias" not in k
            and ".self_attn.v_proj.bias" not in k]
    if left:
        raise ExportError(f"{name}: cannot reorder the hidden channels of {left[0]!r} (and {len(left) - 1} more); "
                          "reordering knows the Llama/Qwen2 layout.", hint="export without --calibrate")


def smooth_checkpoint(ckpt: CheckpointDir, calib: Calibration, out: Path, alpha: float = 0.5, *,
                      head: bool = False, reorder: bool = False) -> tuple[CheckpointDir, SmoothReport]:
    """Write ``ckpt`` smoothed at ``alpha`` (0: weights keep their range, 1: activations are flattened) to the
    empty folder ``out``, fp32, with its tokenizer and config; ``head`` smooths the output head too (the
    result is untied), ``reorder`` sorts the residual stream's channels by calibration |activation|, largest
    first. Raises ConfigError for alpha outside (0, 1), ExportError for an architecture without the RMSNorm ->
    linear layout smoothing folds into."""
    import torch
    from safetensors.torch import save_file

    if not 0 < alpha < 1:
        raise ConfigError("smooth_alpha", f"must be between 0 and 1 (exclusive), not {alpha}.")
    lm = load_model(ckpt)
    model = lm.model
    stats = activation_absmax(model, calib)
    state = {k: v.detach().clone().float().contiguous() for k, v in model.state_dict().items()}
    tied = bool(model.config.tie_word_embeddings)
    before, after = 0.0, 0.0
    layers = len(model.model.layers)
    for i in range(layers):
        pre = f"model.layers.{i}."
        for producer, how, linears in _GROUPS:
            names = [f"layers.{i}.{lin}" for lin in linears]
            if any(n not in stats for n in names) or pre + producer not in state:
                raise ExportError(f"{ckpt.name}: layer {i} has no {producer} feeding {', '.join(linears)}; "
                                  "smoothing folds into that layout (Llama, Qwen2).")
            act = stats[names[0]].clamp(min=1e-5)
            w = torch.stack([state[pre + lin + ".weight"].abs().amax(0) for lin in linears]).amax(0)
            s = _scales(act, w, alpha)
            for lin in linears:
                state[pre + lin + ".weight"] *= s  # columns: [out, in] * [in]
            if how == "gain":
                state[pre + producer] /= s
            else:
                state[pre + producer] /= s[:, None]  # up_proj's output rows
            before = max(before, float(act.max() / act.median()))
            smoothed = act / s
            after = max(after, float(smoothed.max() / smoothed.median()))
    if head:
        if "lm_head" not in stats or "model.norm.weight" not in state:
            raise ExportError(f"{ckpt.name}: no final RMSNorm feeding lm_head; smoothing the head folds into that.")
        w = state["lm_head.weight"]
        s = _scales(stats["lm_head"], w.abs().amax(0), alpha)
        state["lm_head.weight"] = w * s  # a new tensor: a tied embedding keeps its values
        state["model.norm.weight"] /= s
        tied = False
    if reorder:
        order = torch.argsort(stats[RESIDUAL], descending=True, stable=True)
        _reorder(state, order, layers, ckpt.name)
    if tied:
        state.pop("lm_head.weight", None)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    for f in ckpt.path.iterdir():  # config, tokenizer, generation config: everything but the weights
        if f.is_file() and not f.name.endswith((".safetensors", ".safetensors.index.json")):
            shutil.copyfile(f, out / f.name)
    cfg = json.loads((out / "config.json").read_text())
    cfg["dtype"] = "float32"
    cfg["tie_word_embeddings"] = tied
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    report = SmoothReport(alpha, calib.to_dict(), before, after, head=head, reordered=reorder)
    (out / SMOOTH_MARKER).write_text(json.dumps({"source_sha256": ckpt.sha256, **report.to_dict()}, indent=2))
    return open_checkpoint(out), report
