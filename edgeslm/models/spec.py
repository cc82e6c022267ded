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


def _positive_int(config: dict[str, Any], key: str, source: str, default: int | None = None) -> int:
    """config[key] as a positive int; ``default`` when absent or null (None: required). Raises ModelLoadError."""
    v = config.get(key)
    if v is None:
        if default is None:
            raise ModelLoadError(f"{source}: missing field {key!r}.",
                                 hint="compare it with a config.json from a working checkpoint")
        return default
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ModelLoadError(f"{source}: {key} must be a positive integer, not {v!r}.",
                             hint="compare it with a config.json from a working checkpoint")
    return v


def _positive_float(v: Any, key: str, source: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        raise ModelLoadError(f"{source}: {key} must be a positive number, not {v!r}.")
    return float(v)


def expected_tensors(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of ``spec`` must hold, by Hugging Face name, with its shape.

    The output head (lm_head.weight) is left out when the embeddings are tied:
    checkpoints may or may not store it then.
    """
    h, f, v, hd = spec.hidden_size, spec.intermediate_size, spec.vocab_size, spec.head_dim
    q, kv = spec.num_heads * hd, spec.num_kv_heads * hd
    out = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    if not spec.tie_word_embeddings:
        out["lm_head.weight"] = (v, h)
    for i in range(spec.num_layers):
        p = f"model.layers.{i}."
        out.update({
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
            p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h), p + "mlp.down_proj.weight": (h, f),
        })
        if spec.arch.qkv_bias:
            out.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,),
                        p + "self_attn.v_proj.bias": (kv,)})
    return out


def tensor_problems(spec: ModelSpec, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> list[str]:
    """What is wrong between config.json and the weights: missing tensors and wrong shapes, by name ([] if none)."""
    problems = []
    expected = expected_tensors(spec)
    if spec.tie_word_embeddings and "lm_head.weight" in tensors:
        expected["lm_head.weight"] = (spec.vocab_size, spec.hidden_size)
    for name, shape in expected.items():
        if name not in tensors:
            problems.append(f"tensor {name} is missing (config.json declares it: shape {list(shape)})")
        elif tuple(tensors[name][1]) != shape:
            problems.append(f"tensor {name} has shape {list(tensors[name][1])}; config.json implies {list(shape)}")
    return problems


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
    size = lambda key, default=None: _positive_int(config, key, source, default)  # noqa: E731
    hidden, heads = size("hidden_size"), size("num_attention_heads")
    head_dim = size("head_dim", 0)
    if not head_dim:
        if hidden % heads:
            raise ModelLoadError(
                f"{source}: hidden_size={hidden} is not a multiple of num_attention_heads={heads}, and there is no head_dim.",
                hint="set head_dim in config.json, or fix hidden_size / num_attention_heads")
        head_dim = hidden // heads
    spec = ModelSpec(
        arch=arch,
        vocab_size=size("vocab_size"),
        hidden_size=hidden,
        intermediate_size=size("intermediate_size"),
        num_layers=size("num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=size("num_key_value_heads", heads),
        head_dim=head_dim,
        max_position_embeddings=size("max_position_embeddings", 2048),
        rope_theta=_positive_float(_rope_theta(config), "rope_theta", source),
        rms_norm_eps=_positive_float(config.get("rms_norm_eps", 1e-6), "rms_norm_eps", source),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
    )
    if spec.num_heads % spec.num_kv_heads:
        raise ModelLoadError(
            f"{source}: num_attention_heads={spec.num_heads} is not a multiple of num_key_value_heads={spec.num_kv_heads}."
        )
    return spec
