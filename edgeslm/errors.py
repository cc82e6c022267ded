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


class ConfigError(UsageError):
    """A config dataclass field with a value it cannot take.

    The message names the field ("ctx must be at least 8"); the CLI, which
    knows which flag fills which field, names the flag instead ("--ctx ...").
    """

    def __init__(self, field: str, problem: str, hint: str | None = None):
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}", hint=hint)

    def for_flag(self, flag: str) -> "ConfigError":
        """The same error, worded for the option that set the field."""
        err = ConfigError(self.field, self.problem, self.hint)
        err.message = f"{flag} {self.problem}"
        return err


class ModelLoadError(EdgeSLMError):
    """A checkpoint directory that is missing, malformed or unsupported."""


class UnsupportedArchitectureError(ModelLoadError):
    """A config.json whose architecture edgeslm cannot handle."""


class TokenizerError(EdgeSLMError):
    """A tokenizer that is missing or cannot be mapped to a runtime's tokenizer."""


class TargetError(EdgeSLMError):
    """A device profile that cannot be found or does not validate."""


class RecipeError(EdgeSLMError):
    """A recipe file (edgeslm run) that cannot be found or does not validate."""


class LineageMismatch(EdgeSLMError):
    """An artifact whose bytes differ from what its run's manifest recorded."""

    exit_code = 1


class DataError(EdgeSLMError):
    """Evaluation or calibration data that is empty, binary or malformed."""


class CacheError(EdgeSLMError):
    """A teacher-logit cache that is incomplete, corrupt, or built for something else."""


class ExportError(EdgeSLMError):
    """An export that cannot be produced for this model, format and quant type."""


class ToolBuildError(EdgeSLMError):
    """A runtime's command-line tools (llama.cpp's, built from source) could not be built or found."""


class ArtifactError(EdgeSLMError):
    """An artifact that a runtime cannot load (corrupt, truncated, wrong format)."""


class OutputPathError(EdgeSLMError):
    """An output location that cannot be written."""


class GateFailure(EdgeSLMError):
    """Verification ran, and at least one of the target's gates failed."""

    exit_code = 1


class DeviceError(EdgeSLMError):
    """A device that cannot be reached or used: connection refused, host key not trusted, no space, timed out.

    Like a runtime failure it costs the rows measured on that device, never the
    run (a fleet goes on with its other devices), and exits 1 when it is all
    there was. Messages never carry credentials or key paths.
    """

    exit_code = 1


class RuntimeFailure(ArtifactError):
    """A runtime that crashed, hung or was killed while it ran an artifact.

    It costs that artifact its row of a report, never the whole run: the
    runtime ran in a child process (runners/process.py). Exit code 1, like a
    failed gate: the artifact did not verify.
    """

    exit_code = 1

    def __init__(self, runtime: str, reason: str, *, doing: str, log: object):
        self.runtime, self.reason, self.doing, self.log = runtime, reason, doing, log
        super().__init__(
            f"{runtime} {reason} while {doing}; its log: {log}",
            hint="this is the runtime failing on this artifact; `edgeslm doctor` shows the runtime's build. "
                 "Attach its output and the log to a bug report",
        )

    def while_doing(self, doing: str) -> "RuntimeFailure":
        """The same failure, described with what the caller was doing (e.g. 'evaluating window 1 of 8')."""
        return RuntimeFailure(self.runtime, self.reason, doing=doing, log=self.log)
