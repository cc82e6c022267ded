"""Which weight matrices lose most at 4 bits, measured on calibration text.

llama.cpp's Q4_K_M promotes tensors to higher precision by name and position
(attn_v and ffn_down in the first and last eighth of layers and every third in
between). That is a rule of thumb from LLaMA-era models. Here each group of
weights the runtime quantizes as one MatMul (q/k/v, o, gate, up, down in every
layer) is rounded to 4 bits on its own, with the rest in fp32. The group's
sensitivity is the mean KL from the fp32 model's next-token distribution on
calibration windows. The groups that cost most KL per extra byte move to 8 bits
until a share of the body's weights is spent.

The rounding is the runtime's own block-wise round-to-nearest (symmetric
[-8, 7] with the largest-magnitude value at -8, as MLAS does, or min/max with a
zero point), emulated in PyTorch. Only the ranking is used, and it needs no
runtime export.

Cost: one forward of the layers from the perturbed one onwards per group
(calibration samples x 256 tokens); about 2-4 minutes for a 30-layer 135M model
with 4 samples on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

    from edgeslm.calibrate import Calibration

# group -> the Hugging Face linears (under model.layers.N.) the runtime quantizes as one MatMul.
# onnxruntime-genai fuses q, k and v into one qkv_proj MatMul.
GROUPS: dict[str, tuple[str, ...]] = {
    "qkv": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "o": ("self_attn.o_proj",),
    "gate": ("mlp.gate_proj",),
    "up": ("mlp.up_proj",),
    "down": ("mlp.down_proj",),
}


@dataclass(frozen=True)
class GroupSensitivity:
    layer: int
    group: str  # a GROUPS key
    params: int  # weights in the group
    kl: float  # mean KL (nats/token) from fp32 when only this group is at 4 bits

    def to_dict(self) -> dict:
        return {"layer": self.layer, "group": self.group, "params": self.params, "kl": self.kl}


@dataclass(frozen=True)
class SensitivityReport:
    """Every group's measured sensitivity, and the ones chosen for 8 bits (most KL per weight first)."""

    groups: tuple[GroupSensitivity, ...]
    chosen: tuple[GroupSensitivity, ...]
    fraction: float  # share of the body's weights allowed at 8 bits
    calibration: dict  # source, sha256, samples, tokens
    seconds: float

    def to_dict(self) -> dict:
        body = sum(g.params for g in self.groups)
        return {"method": "kl-sensitivity", "fraction": self.fraction, "calibration": self.calibration,
                "seconds": round(self.seconds, 1), "chosen": [f"{g.layer}.{g.group}" for g in self.chosen],
                "chosen_params": sum(g.params for g in self.chosen),
                "chosen_params_share": sum(g.params for g in self.chosen) / body if body else 0.0,
                "kl_chosen": sum(g.kl for g in self.chosen), "kl_all": sum(g.kl for g in self.groups)}


def fake_quant(w: "torch.Tensor", bits: int, block: int, asymmetric: bool) -> "torch.Tensor":
    """``w`` [out, in] rounded to ``bits`` in blocks of ``block`` along the input, and back to float.

    Symmetric: scale = (value of largest magnitude) / -2^(bits-1), codes in [-2^(bits-1), 2^(bits-1)-1] (MLAS).
    Asymmetric: scale = (max - min) / (2^bits - 1) with the block's range widened to include 0, and a zero point.
    """
    import torch

    out_f, in_f = w.shape
    pad = (-in_f) % block
    x = torch.nn.functional.pad(w.float(), (0, pad)).reshape(out_f, -1, block)
    if asymmetric:
        lo = x.amin(-1, keepdim=True).clamp(max=0)
        hi = x.amax(-1, keepdim=True).clamp(min=0)
        qmax = 2**bits - 1
        scale = ((hi - lo) / qmax).clamp(min=1e-12)
        zp = torch.round(-lo / scale).clamp(0, qmax)
        q = (torch.round(x / scale) + zp).clamp(0, qmax)
        y = (q - zp) * scale
    else:
        idx = x.abs().argmax(-1, keepdim=True)
        peak = x.gather(-1, idx)
        half = 2 ** (bits - 1)
        scale = peak / -half
        scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        y = torch.round(x / scale).clamp(-half, half - 1) * scale
    return y.reshape(out_f, -1)[:, :in_f].to(w.dtype)


def measure(model, calib: "Calibration", bits: int = 4, block: int = 32, asymmetric: bool = False,
            progress: Callable[[int, int], None] | None = None) -> list[GroupSensitivity]:
    """Each group's KL when only it is rounded to ``bits``; ``model`` is a fp32 Hugging Face causal LM.

    The weights are restored after each group. ``progress(done, total)`` is called after each.
    """
    import torch

    inner = model.model
    layers = inner.layers
    ids = torch.as_tensor(calib.samples)
    with torch.no_grad():
        out = model(ids, output_hidden_states=True, use_cache=False)
        ref = torch.log_softmax(out.logits.float(), -1)
        hidden = out.hidden_states  # [0] is the embedding output, [i] the input of layer i
    todo = [(i, g) for i in range(len(layers)) for g in GROUPS if _linears(layers[i], g)]
    results: list[GroupSensitivity] = []
    for n, (i, g) in enumerate(todo):
        mods = _linears(layers[i], g)
        saved = [m.weight.data for m in mods]
        try:
            for m in mods:
                m.weight.data = fake_quant(m.weight.data, bits, block, asymmetric)
            logp = _from_layer(model, i, hidden[i], ids)
        finally:
            for m, w in zip(mods, saved):
                m.weight.data = w
        kl = (ref.exp() * (ref - logp)).sum(-1).mean().item()
        results.append(GroupSensitivity(i, g, sum(m.weight.numel() for m in mods), kl))
        if progress:
            progress(n + 1, len(todo))
    return results


def choose(groups: list[GroupSensitivity], fraction: float) -> list[GroupSensitivity]:
    """The groups to keep at 8 bits: highest KL per weight first, while their weights fit ``fraction`` of the body."""
    budget = fraction * sum(g.params for g in groups)
    chosen, used = [], 0
    for g in sorted(groups, key=lambda g: g.kl / g.params, reverse=True):
        if g.kl <= 0:
            break
        if used + g.params <= budget:
            chosen.append(g)
            used += g.params
    return sorted(chosen, key=lambda g: (g.layer, list(GROUPS).index(g.group)))


def _linears(layer, group: str) -> list:
    mods = []
    for path in GROUPS[group]:
        m = layer
        for part in path.split("."):
            m = getattr(m, part, None)
            if m is None:
                break
        if m is not None and hasattr(m, "weight"):
            mods.append(m)
    return mods


def _from_layer(model, i: int, h: "torch.Tensor", ids: "torch.Tensor") -> "torch.Tensor":
    """Log-probs of the model run from layer ``i`` on, with ``h`` (layer i's recorded input) in place of the
    embedding output: the layers before ``i`` are unchanged, so recomputing them would give ``h`` again."""
    import torch

    inner = model.model
    layers = inner.layers
    handle = inner.embed_tokens.register_forward_hook(lambda mod, args, out: h)
    inner.layers = torch.nn.ModuleList(list(layers)[i:])
    try:
        with torch.no_grad():
            logits = model(ids, use_cache=False).logits
    finally:
        inner.layers = layers
        handle.remove()
    return torch.log_softmax(logits.float(), -1)


def sensitivity_report(ckpt, calibration_data: str, samples: int, fraction: float, block: int,
                       asymmetric: bool) -> SensitivityReport:
    """Measure every group of checkpoint ``ckpt`` at 4 bits on ``samples`` windows of 256 tokens of the
    calibration text ("": the stdlib train split), and choose the 8-bit ones. Raises DataError."""
    import time

    from edgeslm.calibrate import make_calibration
    from edgeslm.data import text_or_split
    from edgeslm.models.loader import load_model

    t0 = time.perf_counter()
    ref = load_model(ckpt)
    calib = make_calibration(ref.tokenizer, text_or_split(calibration_data or None, "train"), n_samples=samples,
                             seq_len=256)
    groups = measure(ref.model.float().eval(), calib, bits=4, block=block, asymmetric=asymmetric)
    return SensitivityReport(tuple(groups), tuple(choose(groups, fraction)), fraction, calib.to_dict(),
                             time.perf_counter() - t0)
