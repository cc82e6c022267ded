"""One runner per runtime behind one small protocol (see base.Runner); each runs in a process of its own.

    with open_runner(Path("model.gguf"), threads=4) as runner:   # a RuntimeProcess
        logits = runner.logits(ids)          # (T, V) float32
        gen = runner.generate(ids, 128)      # tokens plus prefill/decode timings
        speed = runner.time(ids, 128, 3)     # medians, and the runtime process's peak RSS

A crash, hang or kill of the runtime raises RuntimeFailure here instead of
ending this process. ``load_runner`` loads in this process (what the runtime
process itself does).
"""

from edgeslm.runners.base import (
    Generation,
    Runner,
    RunnerOptions,
    SpeedResult,
    load_runner,
    measure_speed,
    open_runner,
    register_runner,
)

__all__ = ["Generation", "Runner", "RunnerOptions", "SpeedResult", "load_runner", "measure_speed",
           "open_runner", "register_runner"]
