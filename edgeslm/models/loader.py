"""Load a local Hugging Face checkpoint directory, safely.

A checkpoint is a directory holding config.json, one or more *.safetensors
files (optionally with model.safetensors.index.json) and tokenizer.json.
Pickle checkpoints (*.bin, *.pt) are refused, and remote code is never run
unless the caller asks for it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeslm.errors import ModelLoadError, TokenizerError
from edgeslm.models.architectures import supported_list
from edgeslm.models.spec import ModelSpec, spec_from_config, tensor_problems
from edgeslm.util import HOST_MODEL_LOCK

if TYPE_CHECKING:  # keep `edgeslm --help` fast: torch loads only when a model does
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# the project's own teacher (16.3M Llama trained on the stdlib corpus): the default model of the quickstart
DEMO_TEACHER = Path(__file__).resolve().parent.parent.parent / "examples" / "demo-teacher"


@dataclass(frozen=True)
class CheckpointDir:
    """A validated checkpoint directory: files present, config parsed, headers intact.

    Cheap to build (reads config.json and safetensors headers, no weights), so
    `inspect` and size planning use it without loading the model.
    """

    path: Path
    config: dict[str, Any]
    spec: ModelSpec
    weight_files: tuple[Path, ...]
    tokenizer_file: Path
    # name -> (dtype, shape) from the safetensors headers
    tensors: dict[str, tuple[str, tuple[int, ...]]]

    @cached_property
    def sha256(self) -> str:
        """Content hash of config, weights and tokenizer: the source's identity in lineage."""
        h = hashlib.sha256()
        for f in (self.path / "config.json", *self.weight_files, self.tokenizer_file):
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()

    @property
    def name(self) -> str:
        return self.path.resolve().name


def _read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Parse a safetensors header and check the file really holds every tensor it lists.

    Raises ModelLoadError for a truncated or corrupt file.
    """
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n <= 0 or 8 + n > size:
                raise ValueError("header length past end of file")
            header = json.loads(f.read(n))
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise ModelLoadError(
            f"{path}: not a valid safetensors file ({e}).",
            hint="the file is corrupt or truncated; download or save it again",
        ) from e
    end = 0
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        end = max(end, int(info["data_offsets"][1]))
        out[name] = (info["dtype"], tuple(int(d) for d in info["shape"]))
    if 8 + n + end > size:
        raise ModelLoadError(
            f"{path}: truncated: the header promises {8 + n + end} bytes but the file has {size}.",
            hint="the download or copy was interrupted; fetch the file again",
        )
    return out


def open_checkpoint(path: str | Path) -> CheckpointDir:
    """Validate a checkpoint directory without loading weights.

    Raises:
        ModelLoadError: missing directory, unreadable config.json, a config
            value of the wrong type or range, no safetensors weights (pickle
            checkpoints are refused), truncated files, weights that do not
            match config.json (a missing tensor or a wrong shape, named).
        UnsupportedArchitectureError: an architecture edgeslm does not handle.
        TokenizerError: no tokenizer.json.
    """
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"model directory {p} does not exist.", hint="pass the path of a local Hugging Face checkpoint directory")
    if not p.is_dir():
        raise ModelLoadError(f"{p} is a file, not a checkpoint directory.", hint="pass the directory that holds config.json")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError(f"{p} has no config.json, so it is not a Hugging Face checkpoint directory.")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{cfg_path} is not valid JSON: {e}", hint="fix or re-download config.json") from e
    if not isinstance(config, dict):
        raise ModelLoadError(f"{cfg_path} must hold a JSON object.")
    spec = spec_from_config(config, source=str(cfg_path))

    weights = tuple(sorted(p.glob("*.safetensors")))
    if not weights:
        pickles = sorted(f.name for f in p.iterdir() if f.suffix in _PICKLE_SUFFIXES)
        if pickles:
            raise ModelLoadError(
                f"{p} holds only pickle weights ({', '.join(pickles)}); edgeslm loads safetensors only, "
                "because unpickling can run arbitrary code.",
                hint="convert once in a trusted environment: model.save_pretrained(dir, safe_serialization=True)",
            )
        raise ModelLoadError(f"{p} has no *.safetensors weights.", hint="save the model with save_pretrained()")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    for w in weights:
        tensors.update(_read_safetensors_header(w))
    problems = tensor_problems(spec, tensors)
    if problems:
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ModelLoadError(
            f"{p}: the weights do not match config.json:\n  " + "\n  ".join(problems[:5]) + more,
            hint="the checkpoint is inconsistent; fix config.json or save the model again with save_pretrained()",
        )

    tok = p / "tokenizer.json"
    if not tok.is_file():
        raise TokenizerError(
            f"{p} has no tokenizer.json; edgeslm needs the fast-tokenizer file to build artifacts and check tokenizer parity.",
            hint="save it with AutoTokenizer.from_pretrained(...).save_pretrained(dir)",
        )
    return CheckpointDir(p, config, spec, weights, tok, tensors)


def load_tokenizer(ckpt: CheckpointDir) -> "PreTrainedTokenizerFast":
    """The reference tokenizer: tokenizer.json itself, as every runtime reads it.

    AutoTokenizer picks a class by model type (Qwen2Tokenizer for qwen2), and
    that class can pre-tokenize differently from the tokenizer.json the
    checkpoint ships; runtimes read tokenizer.json, so that is the reference.
    """
    from transformers import PreTrainedTokenizerFast

    try:
        kwargs: dict[str, Any] = {}
        tc = ckpt.path / "tokenizer_config.json"
        if tc.is_file():
            cfg = json.loads(tc.read_text(encoding="utf-8"))
            for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
                v = cfg.get(k)
                if isinstance(v, dict):
                    v = v.get("content")
                if isinstance(v, str):
                    kwargs[k] = v
        return PreTrainedTokenizerFast(tokenizer_file=str(ckpt.tokenizer_file), **kwargs)
    except Exception as e:  # tokenizers raises plain Exception subclasses
        raise TokenizerError(f"{ckpt.tokenizer_file} could not be read: {e}") from e


@dataclass
class LoadedModel:
    """A checkpoint with its PyTorch model and reference tokenizer in memory."""

    ckpt: CheckpointDir
    model: "PreTrainedModel"
    tokenizer: "PreTrainedTokenizerFast"
    # reference results by token ids, so verifying several artifacts computes each once
    reference_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def spec(self) -> ModelSpec:
        return self.ckpt.spec


def load_model(
    path: str | Path | CheckpointDir,
    *,
    dtype: "torch.dtype | None" = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a checkpoint into PyTorch (fp32 by default) in eval mode.

    Raises the errors of :func:`open_checkpoint`, and ModelLoadError when
    transformers cannot build the model from the files.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # edgeslm reports its own progress
    ckpt = path if isinstance(path, CheckpointDir) else open_checkpoint(path)
    try:
        with HOST_MODEL_LOCK:  # from_pretrained swaps process-wide functions while it runs
            model = AutoModelForCausalLM.from_pretrained(
                ckpt.path,
                dtype=dtype or torch.float32,
                use_safetensors=True,
                local_files_only=True,
                trust_remote_code=trust_remote_code,
            )
    except Exception as e:
        raise ModelLoadError(
            f"transformers could not load {ckpt.path}: {e}",
            hint=f"edgeslm supports:\n{supported_list()}",
        ) from e
    model.eval()
    return LoadedModel(ckpt, model, load_tokenizer(ckpt))


def open_model_or_demo(path: str | Path | None) -> CheckpointDir:
    """``path``'s checkpoint, or the demo teacher when no path is given. Raises ModelLoadError."""
    if path is not None:
        return open_checkpoint(path)
    if not DEMO_TEACHER.is_dir():
        raise ModelLoadError("no MODEL given, and the demo teacher (examples/demo-teacher) is not in this checkout.",
                             hint="pass a checkpoint directory, or make one with: edgeslm make-tiny build/tiny")
    return open_checkpoint(DEMO_TEACHER)
