"""ModelSpec: the dimensions of a checkpoint, read from config.json alone.

Everything downstream (inspect, exporters, size estimates, roofline) works from
this frozen description, so it never needs to instantiate the model to answer
shape questions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgeslm.errors import ModelLoadError, UnsupportedArchitectureError
from edgeslm.models.architectures import ARCHITECTURES, Architecture, supported_list


@dataclass(frozen=True)
class ModelSpec:
    arch: Architecture
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    max_position_embeddings: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool

    @property
    def family(self) -> str:
        return self.arch.family

    def param_counts(self) -> dict[str, int]:
        """Parameters per part: embeddings, attention, mlp, norms, head.

        ``head`` is 0 when the output projection is tied to the embeddings.
        """
        h, kv = self.hidden_size, self.num_kv_heads * self.head_dim
        q = self.num_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h  # q, k, v, o
        if self.arch.qkv_bias:
            attn += q + 2 * kv
        mlp = 3 * h * self.intermediate_size  # gate, up, down
        return {
            "embeddings": self.vocab_size * h,
            "attention": self.num_layers * attn,
            "mlp": self.num_layers * mlp,
            "norms": (2 * self.num_layers + 1) * h,
            "head": 0 if self.tie_word_embeddings else self.vocab_size * h,
        }

    @property
    def num_params(self) -> int:
        return sum(self.param_counts().values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = self.arch.hf_class
        d["family"] = self.family
        d["num_params"] = self.num_params
        return d


def _rope_theta(config: dict[str, Any]) -> float:
    # transformers 5 moved rope_theta into config.rope_parameters; older
    # checkpoints (and most on the Hub) keep it at the top level.
    rp = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if isinstance(rp, dict) and "rope_theta" in rp:
        return float(rp["rope_theta"])
    if "rope_theta" in config:
        return float(config["rope_theta"])
    return 10000.0


def _rope_type(config: dict[str, Any]) -> str:
    rp = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if not isinstance(rp, dict):
        return "default"
    return str(rp.get("rope_type", rp.get("type", "default")))


def spec_from_config(config: dict[str, Any], source: str = "config.json") -> ModelSpec:
    """Validate a parsed config.json into a ModelSpec.

    Raises:
        UnsupportedArchitectureError: the architecture or a feature it uses
            (rope scaling, sliding windows) is not supported.
        ModelLoadError: a required dimension is missing or inconsistent.
    """
    archs = config.get("architectures") or []
    name = archs[0] if archs else None
    if name not in ARCHITECTURES:
        by_type = [a for a in ARCHITECTURES.values() if a.model_type == config.get("model_type")]
        if name is None and by_type:
            name = by_type[0].hf_class
        else:
            raise UnsupportedArchitectureError(
                f"{source}: architecture {name or config.get('model_type')!r} is not supported.\n"
                f"Supported architectures:\n{supported_list()}",
                hint="use a checkpoint of one of these families, or open an issue for the one you need",
            )
    arch = ARCHITECTURES[name]
    if _rope_type(config) not in ("default", "linear") or (
        _rope_type(config) == "linear" and float((config.get("rope_parameters") or config.get("rope_scaling") or {}).get("factor", 1.0)) != 1.0
    ):
        raise UnsupportedArchitectureError(
            f"{source}: rope scaling {_rope_type(config)!r} is not supported yet; only plain RoPE is.",
            hint="remove rope scaling from config.json if the model does not need long context",
        )
    if config.get("use_sliding_window"):
        raise UnsupportedArchitectureError(f"{source}: sliding-window attention is not supported.")
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        spec = ModelSpec(
            arch=arch,
            vocab_size=int(config["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(config["intermediate_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            max_position_embeddings=int(config.get("max_position_embeddings", 2048)),
            rope_theta=_rope_theta(config),
            rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(
            f"{source}: missing or invalid field {e}", hint="compare it with a config.json from a working checkpoint"
        ) from e
    if spec.num_heads % spec.num_kv_heads:
        raise ModelLoadError(
            f"{source}: num_attention_heads={spec.num_heads} is not a multiple of num_key_value_heads={spec.num_kv_heads}."
        )
    return spec
