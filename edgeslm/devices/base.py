"""What every device offers: a shell, a stream, copying, and what is shared on top of them.

A Device is *where* a model runs (this machine, a board over ssh, a phone over
adb); a Runner is *which runtime* runs it. Each kind implements four
primitives (``shell``, ``stream``, ``push``, ``pull``); staging files by
sha256, the free-space checks, the fingerprint and clean-up are written once,
here, in terms of them, so every kind does them the same way.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

from edgeslm.devices.spec import DeviceSpec
from edgeslm.errors import DeviceError

DISK_MARGIN = 1.10  # copy only when free space exceeds the bytes to copy by 10%
RAM_MARGIN = 1.10  # a model needs at least its file size in RAM, plus runtime buffers


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hashes(path: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 for a file ({name: sha}) or every file under a folder."""
    if path.is_file():
        return {path.name: sha256_file(path)}
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()}


class Device:
    """Base class. Subclasses set ``kind`` and implement the primitives; everything else is shared.

    Every method raises DeviceError when the device cannot be reached, refuses,
    runs out of space, or does not answer within ``spec.timeout_s``.
    """

    kind = ""

    def __init__(self, spec: DeviceSpec):
        self.spec = spec
        # one folder per run under the workdir: several edgeslm runs may share a device
        self.run_dir = posixpath.join(spec.workdir, f"run-{uuid.uuid4().hex[:12]}")
        self._staged: list[str] = []

    # --- primitives --------------------------------------------------------------

    def shell(self, script: str, *, timeout_s: float | None = None, stdin: bytes | None = None) -> str:
        """Run a POSIX shell command line on the device; its stdout. Raises DeviceError when it fails."""
        raise NotImplementedError

    def stream(self, script: str, log: Path) -> subprocess.Popen:
        """Start a long-running command with stdin/stdout pipes (the agent); its stderr goes to ``log``."""
        raise NotImplementedError

    def push(self, local: Path, remote: str) -> None:
        """Copy one file to ``remote`` (its folder exists)."""
        raise NotImplementedError

    def pull(self, remote: str, local: Path) -> None:
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.spec.address

    def describe(self) -> dict[str, Any]:
        return self.spec.public()

    def fingerprint(self) -> dict[str, Any]:
        """uname -a, the CPU model and its feature flags, and on Android the product model."""
        out = self.shell(
            "uname -a; echo '--'; grep -m1 -E '^(model name|Hardware|Processor)' /proc/cpuinfo; echo '--'; "
            "grep -m1 -E '^(flags|Features)' /proc/cpuinfo; echo '--'; "
            "(getprop ro.product.model 2>/dev/null || true)", timeout_s=self.spec.connect_timeout_s + 20)
        parts = [p.strip() for p in out.split("--")] + ["", "", "", ""]
        fp = {"uname": parts[0], "cpu": parts[1].partition(":")[2].strip() or None,
              "cpu_features": parts[2].partition(":")[2].split()}
        if parts[3]:
            fp["android_model"] = parts[3]
        if self.spec.emulator:
            fp["emulator"] = self.spec.emulator
        return fp

    def free_disk_mib(self) -> float:
        out = self.shell(f"mkdir -p {shlex.quote(self.spec.workdir)} && df -Pk {shlex.quote(self.spec.workdir)} | tail -1")
        try:
            return int(out.split()[3]) / 1024
        except (IndexError, ValueError):
            raise DeviceError(f"{self.address}: could not read free disk space from `df -Pk` ({out.strip()!r}).") from None

    def free_ram_mib(self) -> float:
        out = self.shell("grep -m1 MemAvailable /proc/meminfo")
        try:
            return int(out.split()[1]) / 1024
        except (IndexError, ValueError):
            raise DeviceError(f"{self.address}: could not read MemAvailable from /proc/meminfo.") from None

    def remote_hashes(self, folder: str) -> dict[str, str]:
        """Relative path -> sha256 of every file under ``folder`` on the device ({} when it is absent)."""
        q = shlex.quote(folder)
        out = self.shell(f"if [ -d {q} ]; then cd {q} && find . -type f ! -name '*.part' -exec sha256sum {{}} +; fi")
        found = {}
        for line in out.splitlines():
            sha, _, rel = line.strip().partition(" ")
            found[rel.strip().lstrip("*").removeprefix("./")] = sha
        return found

    def stage(self, local: Path, *, needs_ram: bool = False) -> str:
        """Copy a file or folder to the device unless it is already there; its path on the device.

        Content-addressed: it lands in WORKDIR/store/<sha256 prefix>/, and only
        files whose sha256 *on the device* differs are copied. Before copying,
        free disk (and with ``needs_ram``, free RAM for loading it) is checked.
        Raises DeviceError with the numbers when the device lacks the room.
        """
        local = Path(local)
        hashes = tree_hashes(local)
        key = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()[:16]
        folder = posixpath.join(self.spec.workdir, "store", key)
        have = self.remote_hashes(folder)
        missing = [rel for rel, sha in hashes.items() if have.get(rel) != sha]
        size_mib = sum((local / rel if local.is_dir() else local).stat().st_size for rel in hashes) / (1 << 20)
        if needs_ram:
            ram = self.free_ram_mib()
            if ram < size_mib * RAM_MARGIN:
                raise DeviceError(f"{self.address} has {ram:.0f} MiB of RAM available and {local.name} needs about "
                                  f"{size_mib * RAM_MARGIN:.0f} MiB to load.",
                                  hint="close apps on the device, or pick a smaller quant for this target")
        if missing:
            copy_mib = sum((local / rel if local.is_dir() else local).stat().st_size for rel in missing) / (1 << 20)
            disk = self.free_disk_mib()
            if disk < copy_mib * DISK_MARGIN:
                raise DeviceError(f"{self.address} has {disk:.0f} MiB free under {self.spec.workdir} and "
                                  f"{local.name} needs {copy_mib:.0f} MiB.",
                                  hint="free space on the device, or point [device] workdir at a larger disk")
            dirs = sorted({posixpath.dirname(posixpath.join(folder, rel)) for rel in missing})
            self.shell("mkdir -p " + " ".join(shlex.quote(d) for d in dirs))
            for rel in missing:
                dest = posixpath.join(folder, rel)
                # a copy cut short leaves a .part, never a file with the right name and the wrong bytes
                self.push(local / rel if local.is_dir() else local, dest + ".part")
                self.shell(f"mv -f {shlex.quote(dest + '.part')} {shlex.quote(dest)}")
            after = self.remote_hashes(folder)
            bad = [rel for rel, sha in hashes.items() if after.get(rel) != sha]
            if bad:
                raise DeviceError(f"{self.address}: {bad[0]} arrived with a different sha256 than it left with.",
                                  hint="the device's storage or the link corrupts data; try again")
        self._staged.append(folder)
        return posixpath.join(folder, local.name) if local.is_file() else folder

    def cleanup(self) -> None:
        """Remove this run's folder, and unless ``keep_artifacts`` the files it staged. Never raises."""
        paths = [self.run_dir] + ([] if self.spec.keep_artifacts else self._staged)
        try:
            self.shell("rm -rf " + " ".join(shlex.quote(p) for p in paths), timeout_s=self.spec.connect_timeout_s + 30)
        except DeviceError:
            pass  # an unreachable device cannot be cleaned; its failure is already reported
        self._staged.clear()
