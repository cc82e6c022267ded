"""One runner per runtime behind one small protocol (see base.Runner).

    runner = open_runner(Path("model.gguf"), threads=4)
    logits = runner.logits(ids)          # (T, V) float32
    gen = runner.generate(ids, 128)      # tokens plus prefill/decode timings
"""

from edgeslm.runners.base import RUNNERS, Generation, Runner, SpeedResult, measure_speed, open_runner, register_runner

__all__ = ["RUNNERS", "Generation", "Runner", "SpeedResult", "measure_speed", "open_runner", "register_runner"]
