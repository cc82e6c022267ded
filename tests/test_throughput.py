"""The timing method and what it reports."""

import pytest

from edgeslm.runners import measure_speed, open_runner
from edgeslm.verify.throughput import measure_in_subprocess, roofline_decode_tps


def test_peak_rss_is_the_runtime_process_alone(gguf_file):
    """A large parent must not leak into the child's peak (ru_maxrss survives exec; VmHWM does not)."""
    import torch

    ballast = torch.ones(100_000_000)  # 400 MB in this process
    res = measure_in_subprocess(gguf_file("llama", "Q8_0"), threads=1, prompt=list(range(3, 35)), new_tokens=8, runs=1)
    assert 0 < res.peak_rss_mib < 300, res
    assert ballast.sum() > 0


def test_medians_of_runs_and_counts(gguf_file):
    r = open_runner(gguf_file("llama", "Q4_0"), threads=1)
    try:
        s = measure_speed(r, list(range(3, 67)), new_tokens=16, runs=3)
    finally:
        r.close()
    assert s.prompt_tokens == 64 and s.new_tokens == 16 and s.runs == 3
    assert s.prefill_tps > 0 and s.decode_tps > 0


def test_roofline():
    # 1 GB of weights per token at 10 GB/s: 10 tokens/s
    assert roofline_decode_tps(1e9, 10.0) == pytest.approx(10.0)
