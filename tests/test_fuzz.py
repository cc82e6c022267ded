"""Fuzzing the two readers of untrusted files: GGUF metadata and target profiles.

Either they return a well-formed value or they raise edgeslm's own error
(ArtifactError, TargetError) with a message; anything else (an IndexError
escaping, a hang past the deadline, memory blow-up) is a crash and fails the
test. Bounded in time for CI: a few hundred cases each, a deadline per case.
The counters below are printed in pytest's closing summary (tests/conftest.py):
cases run, refused with edgeslm's error, and crashed (anything else; the goal is 0).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeslm.errors import ArtifactError, TargetError

CASES: Counter = Counter()
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow], derandomize=True)


@pytest.fixture(scope="module")
def gguf_path(gguf_file) -> Path:
    return gguf_file("llama", "Q8_0")


def _crash(kind: str):
    """Count an exception that is not edgeslm's own error, then let it fail the test."""
    CASES[f"{kind} crashed"] += 1


# mutations of a real GGUF: flipped bytes in the header/metadata region, cuts, splices
_edits = st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8)


@FUZZ
@given(edits=_edits, cut=st.one_of(st.none(), st.integers(0, 8192)))
def test_gguf_metadata_reader_never_crashes(gguf_path, tmp_path_factory, edits, cut):
    from edgeslm.export import open_artifact
    from edgeslm.export.gguf import read_lineage

    raw = bytearray(gguf_path.read_bytes())
    for pos, val in edits:
        raw[pos] = val
    if cut is not None:
        raw = raw[:cut]
    f = tmp_path_factory.mktemp("fuzz") / "m.gguf"
    f.write_bytes(bytes(raw))
    CASES["gguf"] += 1
    try:
        lineage = read_lineage(f)
        open_artifact(f)
    except ArtifactError as e:
        CASES["gguf refused"] += 1
        assert str(f) in e.message  # the refusal names the file
    except Exception:
        _crash("gguf")
        raise
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in lineage.items())


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=12))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)
_KEYS = ["name", "description", "arch", "isa", "threads", "ram_budget_mib", "storage_budget_mib",
         "memory_bandwidth_gbps", "artifacts", "gates"]


def _valid() -> dict:
    root = Path(__file__).resolve().parent.parent
    return tomllib.loads((root / "tests" / "data" / "loose-target.toml").read_text())


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(_KEYS + ["thread", "gate", "x"]), _values, max_size=4),
       artifact_changes=st.dictionaries(st.sampled_from(["format", "quant", "gates", "options", "runner", "why", "fmt"]),
                                        _values, max_size=3))
def test_target_loader_never_crashes(changes, artifact_changes):
    from edgeslm.targets import Target, target_from_dict

    d = _valid()
    d.update(changes)
    if isinstance(d.get("artifacts"), list) and d["artifacts"] and isinstance(d["artifacts"][0], dict):
        d["artifacts"][0].update(artifact_changes)
    CASES["target"] += 1
    try:
        t = target_from_dict(d, "fuzz.toml")
    except TargetError as e:
        CASES["target refused"] += 1
        assert e.message.startswith("fuzz.toml")  # every refusal names the file
    except Exception:
        _crash("target")
        raise
    else:
        assert isinstance(t, Target) and t.threads > 0 and t.artifacts


@FUZZ
@given(text=st.text(max_size=300))
def test_target_file_reader_never_crashes(tmp_path_factory, text):
    from edgeslm.targets import load_target

    f = tmp_path_factory.mktemp("fuzz") / "t.toml"
    f.write_text(text, encoding="utf-8")
    CASES["profile-file"] += 1
    try:
        with pytest.raises(TargetError):  # no random text is a whole valid profile
            load_target(f)
        CASES["profile-file refused"] += 1
    except Exception:
        _crash("profile-file")
        raise
