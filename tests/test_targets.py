import pytest

from edgeslm.errors import TargetError
from edgeslm.targets import TARGETS_DIR, Gates, list_targets, load_target

SHIPPED = sorted(p.name for p in TARGETS_DIR.iterdir() if p.suffix in (".toml", ".yaml", ".yml"))


@pytest.mark.parametrize("filename", SHIPPED)
def test_every_shipped_profile_loads(filename):
    t = load_target(TARGETS_DIR / filename)
    assert t.threads > 0 and t.memory_bandwidth_gbps > 0 and t.artifacts
    assert all(a.why for a in t.artifacts), "each artifact says why it is built"
    g = t.gates
    assert None not in (g.max_mean_kl, g.min_top1, g.max_ppl_ratio, g.min_decode_tps, g.max_file_mib, g.max_peak_rss_mib)


def test_required_profiles_exist():
    assert {"host", "laptop-x86", "macbook-m2", "pixel8", "rpi5"} <= set(list_targets())


def test_host_is_detected():
    import platform

    t = load_target("host")
    assert t.arch == platform.machine() and t.threads >= 1 and t.ram_budget_mib > 0
    assert t.memory_bandwidth_gbps > 0.1  # measured by a copy loop


def test_only_the_auto_fields_are_detected():
    """Reading a profile must not run the 2 x 128 MiB copy benchmark unless it asks for it:
    every CLI call and the fuzz test parse profiles, and the benchmark took up to 4 s on a busy CI host."""
    from pathlib import Path

    from edgeslm.targets import measure_bandwidth_gbps

    measure_bandwidth_gbps.cache_clear()
    loose = load_target(Path(__file__).parent / "data" / "loose-target.toml")  # arch, isa auto; bandwidth given
    assert loose.memory_bandwidth_gbps == 10.0 and loose.arch != "auto" and loose.isa != ("auto",)
    assert measure_bandwidth_gbps.cache_info().misses == 0
    first = load_target("host").memory_bandwidth_gbps
    assert load_target("host").memory_bandwidth_gbps == first  # measured once per process
    assert measure_bandwidth_gbps.cache_info()[:2] == (1, 1)


def test_name_and_path_are_interchangeable():
    assert load_target("pixel8") == load_target(str(TARGETS_DIR / "pixel8.toml"))


def test_yaml_profile(tmp_path):
    y = tmp_path / "board.yaml"
    y.write_text(
        "name: board\narch: aarch64\nisa: [neon]\nthreads: 4\nram_budget_mib: 512\nstorage_budget_mib: 512\n"
        "memory_bandwidth_gbps: 4\nartifacts:\n  - {format: gguf, quant: q4_0, why: small}\n"
    )
    t = load_target(y)
    assert t.artifacts[0].quant == "Q4_0" and t.gates == Gates()


def test_typo_in_key_is_rejected_with_suggestion(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text((TARGETS_DIR / "rpi5.toml").read_text().replace("memory_bandwidth_gbps", "memory_bandwith_gbps"))
    with pytest.raises(TargetError, match="unknown key 'memory_bandwith_gbps'.*did you mean 'memory_bandwidth_gbps'"):
        load_target(p)


def test_typo_in_gate_key(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text((TARGETS_DIR / "rpi5.toml").read_text().replace("min_top1", "min_top_1"))
    with pytest.raises(TargetError, match="min_top_1"):
        load_target(p)


def test_bad_values(tmp_path):
    src = (TARGETS_DIR / "rpi5.toml").read_text()
    for old, new, msg in [
        ("threads = 4", "threads = 0", "threads must be a positive integer"),
        ('quant = "Q4_0"', 'quant = "Q3_XYZ"', "unknown gguf quant"),
        ('format = "gguf"\nquant = "Q4_0"', 'format = "tflite"\nquant = "Q4_0"', "unknown format"),
        ("min_top1 = 0.85", 'min_top1 = "high"', "non-negative number"),
    ]:
        p = tmp_path / "t.toml"
        p.write_text(src.replace(old, new, 1))
        with pytest.raises(TargetError, match=msg):
            load_target(p)


def test_unknown_target_name():
    with pytest.raises(TargetError, match="unknown target 'pixle8'.*did you mean 'pixel8'"):
        load_target("pixle8")


def test_artifact_gates_override_target_gates():
    t = load_target("laptop-x86")
    q8 = next(a for a in t.artifacts if a.quant == "Q8_0")
    assert t.gates_for(q8).max_mean_kl == 0.01
    assert t.gates_for(q8).min_decode_tps == t.gates.min_decode_tps  # not overridden


def test_targets_cli(cli):
    res = cli("targets", "list")
    assert res.exit_code == 0 and "pixel8" in res.stdout and "rpi5" in res.stdout
    res = cli("targets", "show", "rpi5")
    assert res.exit_code == 0 and "Cortex-A76" in res.stdout and "max_mean_kl" in res.stdout
    res = cli("targets", "show", str(TARGETS_DIR / "rpi5.toml"), "--json")
    assert res.exit_code == 0 and '"memory_bandwidth_gbps": 10.0' in res.stdout
