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
- down_proj reads silu(gate) * up: up_proj's output rows are divided by s.

Shapes: every s is [in_features] of the layer it smooths.
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
SMOOTH_MARKER = "edgeslm-smooth.json"  # in the smoothed checkpoint: alpha and the calibration it came from


@dataclass(frozen=True)
class SmoothReport:
    """What smoothing did: alpha, the calibration, and the worst channel ratio before and after, per group."""

    alpha: float
    calibration: dict
    max_ratio_before: float  # max over layers of max|X_j| / median_j max|X_j|
    max_ratio_after: float

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "calibration": self.calibration, "max_ratio_before": self.max_ratio_before,
                "max_ratio_after": self.max_ratio_after}


def activation_absmax(model, calib: Calibration) -> dict[str, "torch.Tensor"]:
    """max |input| per input channel of every smoothed linear, over all calibration tokens: name -> [in_features]."""
    import torch

    seen: dict[str, torch.Tensor] = {}
    readers = {f"layers.{i}.{lin}" for i in range(len(model.model.layers)) for _, _, lins in _GROUPS for lin in lins}

    def hook(name):
        def f(_m, inputs, _out):
            a = inputs[0].detach().abs().flatten(0, -2).amax(0).float()
            seen[name] = torch.maximum(seen[name], a) if name in seen else a
        return f

    handles = [m.register_forward_hook(hook(n.removeprefix("model."))) for n, m in model.named_modules()
               if n.removeprefix("model.") in readers]
    try:
        calib.forward_loop(model)
    finally:
        for h in handles:
            h.remove()
    return seen


def smooth_checkpoint(ckpt: CheckpointDir, calib: Calibration, out: Path, alpha: float = 0.5) -> tuple[CheckpointDir, SmoothReport]:
    """Write ``ckpt`` smoothed at ``alpha`` (0: weights keep their range, 1: activations are flattened) to the
    empty folder ``out``, fp32, with its tokenizer and config. Raises ConfigError for alpha outside (0, 1),
    ExportError for an architecture without the RMSNorm -> linear layout smoothing folds into."""
    import torch
    from safetensors.torch import save_file

    if not 0 < alpha < 1:
        raise ConfigError("smooth_alpha", f"must be between 0 and 1 (exclusive), not {alpha}.")
    lm = load_model(ckpt)
    model = lm.model
    stats = activation_absmax(model, calib)
    state = {k: v.detach().clone().float().contiguous() for k, v in model.state_dict().items()}
    before, after = 0.0, 0.0
    for i in range(len(model.model.layers)):
        pre = f"model.layers.{i}."
        for producer, how, linears in _GROUPS:
            names = [f"layers.{i}.{lin}" for lin in linears]
            if any(n not in stats for n in names) or pre + producer not in state:
                raise ExportError(f"{ckpt.name}: layer {i} has no {producer} feeding {', '.join(linears)}; "
                                  "smoothing folds into that layout (Llama, Qwen2).")
            act = stats[names[0]].clamp(min=1e-5)
            w = torch.stack([state[pre + lin + ".weight"].abs().amax(0) for lin in linears]).amax(0).clamp(min=1e-5)
            s = (act.pow(alpha) / w.pow(1 - alpha)).clamp(min=1e-5)
            for lin in linears:
                state[pre + lin + ".weight"] *= s  # columns: [out, in] * [in]
            if how == "gain":
                state[pre + producer] /= s
            else:
                state[pre + producer] /= s[:, None]  # up_proj's output rows
            before = max(before, float(act.max() / act.median()))
            smoothed = act / s
            after = max(after, float(smoothed.max() / smoothed.median()))
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    for f in ckpt.path.iterdir():  # config, tokenizer, generation config: everything but the weights
        if f.is_file() and not f.name.endswith((".safetensors", ".safetensors.index.json")):
            shutil.copyfile(f, out / f.name)
    cfg = json.loads((out / "config.json").read_text())
    cfg["dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    report = SmoothReport(alpha, calib.to_dict(), before, after)
    (out / SMOOTH_MARKER).write_text(json.dumps({"source_sha256": ckpt.sha256, **report.to_dict()}, indent=2))
    return open_checkpoint(out), report
