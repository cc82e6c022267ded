"""One artifact verified on several targets at once: a fleet of devices, one merged report.

    fleet = verify_fleet(artifact, reference, [load_target("rpi5-lab"), load_target("jetson")], text)
    fleet.passed          # every row passed
    fleet.to_dict()       # {"targets": [...], "passed": ..., "reports": [VerifyReport, ...]}

Targets measured on a device run concurrently, at most ``jobs`` at a time: the
device does the work, this machine only the reference. Targets measured on this
machine run one at a time after them, so nothing else runs here while one is
timed. A device that is unreachable, refuses, or fails mid-run fails its own
row with the reason (verify turns a DeviceError into the row's ``failure``);
the other targets go on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from edgeslm.data import TextSet
from edgeslm.export.base import Artifact
from edgeslm.models.loader import LoadedModel
from edgeslm.targets import Target
from edgeslm.verify import VerifyOptions, VerifyReport, verify

DEFAULT_JOBS = 4


@dataclass(frozen=True)
class FleetReport:
    targets: tuple[str, ...]
    reports: tuple[VerifyReport, ...]  # in the order the targets were given

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports)

    def to_dict(self) -> dict:
        return {"targets": list(self.targets), "passed": self.passed, "reports": [r.to_dict() for r in self.reports]}


def _remote(t: Target) -> bool:
    return t.device is not None and t.device.kind != "local"


def verify_fleet(
    artifact: Artifact,
    reference: LoadedModel,
    targets: Sequence[Target],
    data: TextSet,
    *,
    options: VerifyOptions | None = None,
    jobs: int = DEFAULT_JOBS,
    progress: Callable[[str], None] = lambda _: None,
) -> FleetReport:
    """verify() on every target; the devices' share concurrently (``jobs`` at most), this machine's one by one.

    Raises what verify raises for bad input (DataError, UsageError) before any device is used; a device's
    or a runtime's failure is its row's ``failure``, never an exception."""
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        from edgeslm.errors import UsageError

        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"target {dup!r} is given twice.", hint="give each target once; rows are keyed by target name")
    done: dict[str, VerifyReport] = {}

    def one(t: Target) -> None:
        done[t.name] = verify(artifact, reference, t, data, options=options, progress=lambda m: progress(f"{t.name}: {m}"))

    remote = [t for t in targets if _remote(t)]
    if remote:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(remote))), thread_name_prefix="edgeslm-device") as pool:
            for f in [pool.submit(one, t) for t in remote]:
                f.result()
    for t in targets:
        if not _remote(t):
            one(t)
    return FleetReport(tuple(names), tuple(done[n] for n in names))
