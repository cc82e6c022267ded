"""Device profiles: targets/*.toml (or .yaml) validated into frozen dataclasses.

A profile names the hardware (ISA, threads, RAM/storage budgets, memory
bandwidth), the artifacts to build for it, and the gates each artifact must
pass. ``host`` is built in: its hardware fields say "auto" and are detected on
the machine edgeslm runs on. Anywhere a target name is accepted, a path to a
profile file works too.
"""

from __future__ import annotations

import difflib
import functools
import os
import platform
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

from edgeslm.devices.spec import DeviceSpec, device_from_dict
from edgeslm.errors import EdgeSLMError, TargetError

TARGETS_DIR = Path(os.environ.get("EDGESLM_TARGETS_DIR", Path(__file__).resolve().parent.parent / "targets"))
AUTO = "auto"


@dataclass(frozen=True)
class Gates:
    """Limits an artifact must meet. ``None`` means not gated."""

    max_mean_kl: float | None = None  # nats/token, KL(reference || artifact)
    min_top1: float | None = None  # fraction of positions whose argmax agrees, 0..1
    max_ppl_ratio: float | None = None  # artifact perplexity / reference perplexity
    min_decode_tps: float | None = None  # tokens/s at the target's thread count
    max_file_mib: float | None = None
    max_peak_rss_mib: float | None = None

    def merged(self, override: "Gates") -> "Gates":
        """These gates with every field ``override`` sets replaced."""
        return replace(self, **{f.name: getattr(override, f.name) for f in fields(override) if getattr(override, f.name) is not None})


@dataclass(frozen=True)
class ArtifactSpec:
    format: str  # "gguf" | "executorch" | "onnx"
    quant: str  # "Q4_K_M", "8da4w", "int4"
    why: str = ""
    gates: Gates = field(default_factory=Gates)  # overrides the target's gates for this artifact
    options: tuple[tuple[str, Any], ...] = ()  # exporter options, e.g. (("group_size", 32),)
    runner: str = ""  # a registered runner other than the format's default (see `edgeslm doctor`)
    required: bool = True  # false: shown with its verdict, but its failure does not fail the build or release

    @property
    def label(self) -> str:
        return f"{self.format}:{self.quant}"

    def config(self):
        """The exporter config this entry asks for. Raises UsageError for a bad option."""
        from edgeslm.formats import format_named

        return format_named(self.format).make_config(self.quant, **dict(self.options))


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    arch: str  # "x86_64", "aarch64"
    isa: tuple[str, ...]  # e.g. ("avx2", "avx512_vnni") or ("neon", "dotprod", "i8mm")
    threads: int
    ram_budget_mib: float  # RAM the model may use at run time
    storage_budget_mib: float  # space for the artifact on the device
    memory_bandwidth_gbps: float  # sustained, for the roofline decode estimate
    artifacts: tuple[ArtifactSpec, ...]
    gates: Gates = field(default_factory=Gates)
    source: str = ""  # the file it came from
    device: "DeviceSpec | None" = None  # where to measure ([device]); None: this machine
    detected: bool = False  # its hardware was detected on this machine (arch = "auto"): this machine is the target

    @property
    def measured_off_target(self) -> bool:
        """A device profile with no device to measure on: its numbers come from this machine instead."""
        return self.device is None and not self.detected

    def gates_for(self, art: ArtifactSpec) -> Gates:
        return self.gates.merged(art.gates)


_TARGET_KEYS = {f.name for f in fields(Target)} - {"source", "detected"}
_ART_KEYS = {f.name for f in fields(ArtifactSpec)}
_GATE_KEYS = {f.name for f in fields(Gates)}
_FRACTION_GATES = {"min_top1"}  # gates on a fraction: above 1 can never pass


def check_keys(d: dict[str, Any], allowed: set[str], where: str, error: type[EdgeSLMError] = TargetError) -> None:
    """Refuse a key not in ``allowed``, suggesting the closest one. Raises ``error`` naming ``where``."""
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(k, allowed, n=1)
            raise error(
                f"{where}: unknown key {k!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + ".",
                hint=f"valid keys: {', '.join(sorted(allowed))}",
            )


def gates_from_dict(d: Any, where: str) -> Gates:
    if not isinstance(d, dict):
        raise TargetError(f"{where}: gates must be a table of limits.")
    check_keys(d, _GATE_KEYS, where)
    for k, v in d.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < float("inf"):
            raise TargetError(f"{where}: {k} must be a non-negative number, not {v!r}.")
        if k in _FRACTION_GATES and v > 1:
            raise TargetError(f"{where}: {k} is a fraction of positions, between 0 and 1, not {v!r}.",
                              hint=f"for {v:g}%, write {k} = {v / 100:g}" if v <= 100 else None)
    return Gates(**{k: float(v) for k, v in d.items()})


def _artifacts(items: Any, where: str) -> tuple[ArtifactSpec, ...]:
    from edgeslm.errors import UsageError
    from edgeslm.formats import all_formats

    if not isinstance(items, list) or not items:
        raise TargetError(f"{where}: 'artifacts' must list at least one [[artifacts]] entry.")
    out = []
    for i, a in enumerate(items):
        w = f"{where}: artifacts[{i}]"
        if not isinstance(a, dict):
            raise TargetError(f"{w} must be a table with format and quant.")
        check_keys(a, _ART_KEYS, w)
        fmt, quant = a.get("format"), str(a.get("quant", ""))
        formats = all_formats()
        if fmt not in formats:
            raise TargetError(f"{w}: unknown format {fmt!r}.", hint=f"formats: {', '.join(formats)}")
        q = formats[fmt].canonical_quant(quant)
        if q is None:
            raise TargetError(f"{w}: unknown {fmt} quant {quant!r}.", hint=f"choose one of: {', '.join(formats[fmt].quants)}")
        options = a.get("options", {})
        if not isinstance(options, dict):
            raise TargetError(f"{w}: options must be a table, e.g. options = {{ group_size = 32 }}.")
        runner = a.get("runner", "")
        if not isinstance(runner, str):
            raise TargetError(f"{w}: runner must be a runner name, not {runner!r}.")
        if runner:
            from edgeslm.runners.base import runner_factory

            try:
                runner_factory(fmt, runner)
            except UsageError as e:
                raise TargetError(f"{w}: {e.message}", hint=e.hint) from e
        required = a.get("required", True)
        if not isinstance(required, bool):
            raise TargetError(f"{w}: required must be true or false, not {required!r}.")
        spec = ArtifactSpec(fmt, q, str(a.get("why", "")), gates_from_dict(a.get("gates", {}), f"{w}.gates"),
                            tuple(sorted(options.items())), runner, required)
        allowed = formats[fmt].options
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TargetError(f"{w}: option {unknown[0]!r} does not apply to {fmt} artifacts.",
                              hint=f"{fmt} options: {', '.join(sorted(allowed)) or 'none'}")
        try:
            spec.config()
        except (TypeError, UsageError) as e:
            raise TargetError(f"{w}: bad options {options}: {e}") from e
        out.append(spec)
    return tuple(out)


def read_profile(path: Path, error: type[EdgeSLMError] = TargetError, kind: str = "target profile") -> dict[str, Any]:
    """Parse a .toml or .yaml file into a mapping. Raises ``error`` naming the file (targets and recipes share this)."""
    try:
        if path.suffix == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise error(f"{path}: a {kind} must be a mapping of keys.")
            return data
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid TOML: {e}") from e
    except Exception as e:  # yaml.YAMLError without importing yaml eagerly
        if isinstance(e, EdgeSLMError):
            raise
        raise error(f"{path}: not valid YAML: {e}") from e
    raise error(f"{path}: {kind}s are .toml or .yaml files.")


def target_from_dict(d: dict[str, Any], source: str) -> Target:
    """Validate a parsed profile. Raises TargetError naming the bad key or value."""
    check_keys(d, _TARGET_KEYS, source)
    missing = sorted(_TARGET_KEYS - set(d) - {"gates", "description", "name", "device"})
    if missing:
        raise TargetError(f"{source}: missing required key(s): {', '.join(missing)}.")
    d = dict(d)
    detected = d.get("arch") == AUTO
    d.update(detect_host(k for k in _DETECTORS if d.get(k) == AUTO))
    try:
        return Target(
            name=str(d.get("name", Path(source).stem)),
            description=str(d.get("description", "")),
            arch=str(d["arch"]),
            isa=tuple(str(x) for x in d["isa"]),
            threads=_positive_int(d["threads"], "threads", source),
            ram_budget_mib=_positive(d["ram_budget_mib"], "ram_budget_mib", source),
            storage_budget_mib=_positive(d["storage_budget_mib"], "storage_budget_mib", source),
            memory_bandwidth_gbps=_positive(d["memory_bandwidth_gbps"], "memory_bandwidth_gbps", source),
            artifacts=_artifacts(d["artifacts"], source),
            gates=gates_from_dict(d.get("gates", {}), f"{source}: gates"),
            source=source,
            device=device_from_dict(d["device"], source) if "device" in d else None,
            detected=detected,
        )
    except TypeError as e:
        raise TargetError(f"{source}: {e}") from e


def _positive(v: Any, key: str, source: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise TargetError(f"{source}: {key} must be a positive number, not {v!r}.")
    return float(v)


def _positive_int(v: Any, key: str, source: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise TargetError(f"{source}: {key} must be a positive integer, not {v!r}.")
    return v


def _profile_files() -> dict[str, Path]:
    if not TARGETS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(TARGETS_DIR.iterdir()) if p.suffix in (".toml", ".yaml", ".yml")}


def list_targets() -> list[str]:
    return sorted(_profile_files())


def load_target(name_or_path: str | Path) -> Target:
    """A target by name (targets/NAME.toml, or the built-in ``host``) or by file path.

    Raises TargetError for an unknown name or an invalid profile.
    """
    p = Path(name_or_path)
    if p.suffix in (".toml", ".yaml", ".yml") or os.sep in str(name_or_path):
        if not p.is_file():
            raise TargetError(f"target file {p} does not exist.")
        return target_from_dict(read_profile(p), str(p))
    files = _profile_files()
    if str(name_or_path) not in files:
        close = difflib.get_close_matches(str(name_or_path), files, n=1)
        raise TargetError(
            f"unknown target {str(name_or_path)!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + ".",
            hint=f"known targets: {', '.join(files)}; or pass the path of a profile file",
        )
    return target_from_dict(read_profile(files[str(name_or_path)]), str(files[str(name_or_path)]))


# --- host detection -------------------------------------------------------

# ISA features that decide which kernels llama.cpp/XNNPACK/onnxruntime pick.
_INTERESTING_ISA = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8",
    "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "sve2", "fphp", "bf16",
)


def host_isa_flags() -> tuple[str, ...]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return tuple(f for f in _INTERESTING_ISA if f in flags)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@functools.cache
def measure_bandwidth_gbps(mib: int = 128, repeats: int = 5) -> float:
    """Single-stream copy bandwidth (read + write bytes / s), best of ``repeats``, in GB/s.

    Cached per process: it copies 2 x ``mib`` MiB five times (0.1 s idle, measured up to 4 s on a busy
    host), and the host's bandwidth does not change while edgeslm runs.
    """
    import time

    import numpy as np

    a = np.ones(mib << 18, dtype=np.float32)  # mib MiB
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return round(2 * a.nbytes / best / 1e9, 1)


def _ram_budget_mib() -> int:
    import psutil

    return round(psutil.virtual_memory().total / (1 << 20) / 2)


# One detector per auto-detectable key, so a profile pays only for the keys it leaves "auto".
_DETECTORS: dict[str, Callable[[], Any]] = {
    "arch": platform.machine,
    "isa": host_isa_flags,
    "threads": lambda: min(usable_cores(), 8),  # llama.cpp stops scaling past ~8 threads on laptops
    "ram_budget_mib": _ram_budget_mib,
    "storage_budget_mib": lambda: 4096,
    "memory_bandwidth_gbps": measure_bandwidth_gbps,
}


def detect_host(keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Hardware fields of the machine edgeslm runs on: all of them, or only ``keys``."""
    return {k: _DETECTORS[k]() for k in (_DETECTORS if keys is None else keys)}
