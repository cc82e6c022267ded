"""One error hierarchy for everything edgeslm refuses.

Every error carries a message written for the person at the terminal: what is
wrong and what to do next. The CLI prints it without a traceback (``--debug``
shows one) and exits with the error's ``exit_code``.
"""

from __future__ import annotations


class EdgeSLMError(Exception):
    """Base class. ``hint`` is the "what to do next" line, shown after the message."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(EdgeSLMError):
    """A flag, option value or combination of them that cannot work."""


class ModelLoadError(EdgeSLMError):
    """A checkpoint directory that is missing, malformed or unsupported."""


class UnsupportedArchitectureError(ModelLoadError):
    """A config.json whose architecture edgeslm cannot handle."""


class TokenizerError(EdgeSLMError):
    """A tokenizer that is missing or cannot be mapped to a runtime's tokenizer."""


class TargetError(EdgeSLMError):
    """A device profile that cannot be found or does not validate."""


class DataError(EdgeSLMError):
    """Evaluation or calibration data that is empty, binary or malformed."""


class CacheError(EdgeSLMError):
    """A teacher-logit cache that is incomplete, corrupt, or built for something else."""


class ExportError(EdgeSLMError):
    """An export that cannot be produced for this model, format and quant type."""


class ArtifactError(EdgeSLMError):
    """An artifact that a runtime cannot load (corrupt, truncated, wrong format)."""


class OutputPathError(EdgeSLMError):
    """An output location that cannot be written."""


class GateFailure(EdgeSLMError):
    """Verification ran, and at least one of the target's gates failed."""

    exit_code = 1
