"""The three kinds of device: this machine, a board over ssh, a phone over adb.

ssh uses the system's OpenSSH client with the host key checked against
known_hosts (StrictHostKeyChecking=yes; accept-new only where the profile opts
in for that device), BatchMode so no password is ever asked for, and LogLevel
ERROR. Nothing it prints reaches a report before ``scrub`` removes the key path.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

from edgeslm.devices.base import Device
from edgeslm.errors import DeviceError

_HOST_KEY_FAILURES = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                      "No ED25519 host key is known", "No RSA host key is known", "No ECDSA host key is known")


def _timeout(spec, timeout_s):
    return timeout_s if timeout_s is not None else spec.timeout_s


class LocalDevice(Device):
    """This machine, through the same primitives (binary mode runs the host's own llama.cpp tools)."""

    kind = "local"

    def __init__(self, spec):
        if not spec.workdir:
            import tempfile

            from dataclasses import replace

            spec = replace(spec, workdir=os.path.join(tempfile.gettempdir(), "edgeslm-device"))
        super().__init__(spec)

    def _argv(self, script: str) -> list[str]:
        return ["sh", "-c", script]

    def shell(self, script, *, timeout_s=None, stdin=None):
        return _run(self, self._argv(script), _timeout(self.spec, timeout_s), stdin, script)

    def stream(self, script, log):
        return _popen(self._argv(script), log)

    def push(self, local, remote):
        self.shell(f"cp {shlex.quote(str(local))} {shlex.quote(remote)}")

    def pull(self, remote, local):
        self.shell(f"cp {shlex.quote(remote)} {shlex.quote(str(local))}")


class SshDevice(Device):
    kind = "ssh"

    def _ssh(self) -> list[str]:
        s = self.spec
        opts = ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={int(s.connect_timeout_s)}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", f"StrictHostKeyChecking={'accept-new' if s.accept_new_host_key else 'yes'}",
                "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-p", str(s.port)]
        if s.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={s.known_hosts}"]
        if s.key:
            opts += ["-i", s.key, "-o", "IdentitiesOnly=yes"]
        return ["ssh", *opts, f"{s.user + '@' if s.user else ''}{s.host}"]

    def shell(self, script, *, timeout_s=None, stdin=None):
        return _run(self, [*self._ssh(), "--", script], _timeout(self.spec, timeout_s), stdin, script)

    def stream(self, script, log):
        return _popen([*self._ssh(), "--", script], log)

    def push(self, local, remote):
        with open(local, "rb") as f:
            _run(self, [*self._ssh(), "--", f"cat > {shlex.quote(remote)}"], self.spec.timeout_s, f, f"copying {Path(local).name}")

    def pull(self, remote, local):
        with open(local, "wb") as f:
            _run(self, [*self._ssh(), "--", f"cat {shlex.quote(remote)}"], self.spec.timeout_s, None,
                 f"fetching {remote}", stdout=f)


class AdbDevice(Device):
    """A phone: ``adb -s SERIAL shell|push|pull``. Binary mode only (no Python on a phone)."""

    kind = "adb"

    def _adb(self) -> list[str]:
        return [*shlex.split(self.spec.adb), *(["-s", self.spec.serial] if self.spec.serial else [])]

    def shell(self, script, *, timeout_s=None, stdin=None):
        return _run(self, [*self._adb(), "shell", script], _timeout(self.spec, timeout_s), stdin, script)

    def stream(self, script, log):
        raise DeviceError(f"{self.address}: adb devices run in binary mode; the agent needs Python on the device.")

    def push(self, local, remote):
        _run(self, [*self._adb(), "push", str(local), remote], self.spec.timeout_s, None, f"adb push {Path(local).name}")

    def pull(self, remote, local):
        _run(self, [*self._adb(), "pull", remote, str(local)], self.spec.timeout_s, None, f"adb pull {remote}")


KINDS: dict[str, type[Device]] = {"local": LocalDevice, "ssh": SshDevice, "adb": AdbDevice}


def open_device(spec) -> Device:
    """The Device for a profile's [device] table."""
    return KINDS[spec.kind](spec)


def scrub(text: str, spec) -> str:
    """``text`` with the key path (and the known_hosts path) taken out: error messages end up in reports."""
    for secret in (spec.key, spec.known_hosts):
        if secret:
            text = text.replace(secret, "<key>" if secret == spec.key else "<known_hosts>")
    return text


def _popen(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as logf:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                                start_new_session=True)


def _run(dev: Device, argv: list[str], timeout_s: float, stdin, doing: str, stdout=None) -> str:
    """Run a local command that talks to the device; its stdout. Raises DeviceError, worded for the person."""
    spec = dev.spec
    piped = isinstance(stdin, (bytes, type(None)))
    try:
        # its own process group: a hung command is ended with everything it started
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if piped else stdin, stdout=stdout or subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        raise DeviceError(f"{argv[0]} is not installed on this machine, and {dev.address} is reached through it.",
                          hint="install OpenSSH's client (ssh)" if dev.kind == "ssh" else
                          "install the Android platform tools (adb), or set [device] adb = PATH") from None
    try:
        out, err_b = proc.communicate(stdin if piped else None, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise DeviceError(f"{dev.address} did not answer within {timeout_s:g} s ({_short(doing)}).",
                          hint="the device hung or the link dropped; raise --timeout (or [device] timeout_s) for slow boards") from None
    res = subprocess.CompletedProcess(argv, proc.returncode, out, err_b)
    err = scrub(res.stderr.decode("utf-8", "replace").strip(), spec)
    if dev.kind == "ssh" and res.returncode == 255:
        if any(m in err for m in _HOST_KEY_FAILURES):
            port = f"-p {spec.port} " if spec.port != 22 else ""
            raise DeviceError(
                f"{dev.address}: the ssh host key is not trusted ({err.splitlines()[-1] if err else 'no known_hosts entry'}).",
                hint=f"check the key with the device's owner, then add it: ssh-keyscan {port}{spec.host} >> "
                     "~/.ssh/known_hosts (or set known_hosts = PATH); to trust a first-seen key for this one device, "
                     "set accept_new_host_key = true in its [device]")
        raise DeviceError(f"{dev.address} is unreachable: {err.splitlines()[-1] if err else 'ssh failed'}.",
                          hint="check that the board is on, sshd runs, and host/port/user are right")
    if res.returncode != 0:
        raise DeviceError(f"{dev.address}: `{_short(doing)}` failed with status {res.returncode}"
                          + (f": {err.splitlines()[-1]}" if err else "."))
    return "" if stdout is not None else res.stdout.decode("utf-8", "replace")


def _short(doing: str, n: int = 80) -> str:
    doing = " ".join(doing.split())
    return doing if len(doing) <= n else doing[: n - 3] + "..."
