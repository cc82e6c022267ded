"""Runtimes made to fail on purpose, for the tests of runtime isolation.

Loaded through $EDGESLM_PLUGINS (with this folder on PYTHONPATH), so the
runtime processes edgeslm starts register them too. Each is llama.cpp until
its first ``logits`` call, which then fails the way real runtimes do.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

from edgeslm.runners.base import register_runner
from edgeslm.runners.llamacpp import LlamaCppRunner


@register_runner("gguf", name="segv-on-logits")
class SegvOnLogits(LlamaCppRunner):
    name = "segv-on-logits"

    def logits(self, ids):
        ctypes.string_at(0)  # a real invalid read: the kernel sends SIGSEGV


@register_runner("gguf", name="hang-on-logits")
class HangOnLogits(LlamaCppRunner):
    name = "hang-on-logits"

    def logits(self, ids):
        time.sleep(3600)


@register_runner("gguf", name="exit137-on-logits")
class Exit137OnLogits(LlamaCppRunner):
    """What a shell reports for a process the OOM killer ended."""

    name = "exit137-on-logits"

    def logits(self, ids):
        os._exit(137)


@register_runner("gguf", name="sigkill-on-logits")
class SigkillOnLogits(LlamaCppRunner):
    """What the OOM killer itself does."""

    name = "sigkill-on-logits"

    def logits(self, ids):
        os.kill(os.getpid(), signal.SIGKILL)


@register_runner("gguf", name="abort-on-load")
class AbortOnLoad(LlamaCppRunner):
    name = "abort-on-load"

    def __init__(self, path, options):
        os.abort()
