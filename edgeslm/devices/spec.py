"""A target profile's ``[device]`` table: where its artifacts are measured.

    [device]                       [device]
    kind = "ssh"                   kind = "adb"
    host = "rpi5.local"            serial = "38241FDJH00A1B"
    user = "pi"                    workdir = "/data/local/tmp/edgeslm"
    key = "~/.ssh/id_ed25519"      [device.tools]
    workdir = "/tmp/edgeslm"       llama-perplexity = "/data/local/tmp/bin/llama-perplexity"

No table means the build host, as before. Standard library only: the agent
that runs on a board does not import this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from edgeslm.errors import TargetError

KINDS = ("local", "ssh", "adb")
MODES = ("agent", "binary")
DEFAULT_WORKDIR = {"local": "", "ssh": "/tmp/edgeslm", "adb": "/data/local/tmp/edgeslm"}
DEFAULT_MODE = {"local": "agent", "ssh": "agent", "adb": "binary"}  # phones have no Python
TOOL_NAMES = ("llama-perplexity", "llama-bench", "llama_main")
_SECRET_KEYS = ("password", "passphrase", "pass")


@dataclass(frozen=True)
class DeviceSpec:
    """How to reach a device and run there. ``key`` is a path on this machine and never leaves it (see ``public``)."""

    kind: str = "local"
    host: str = ""
    port: int = 22
    user: str = ""
    key: str = ""  # private key file; none: the ssh agent or ssh's own defaults
    known_hosts: str = ""  # default ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # opt-in, per device: trust a host key seen for the first time
    serial: str = ""  # adb device serial; empty: the only device attached
    adb: str = "adb"  # the adb command
    workdir: str = ""
    mode: str = ""  # agent (Python on the device) or binary (the runtime's own tools)
    python: str = "python3"  # agent mode: the device's Python with numpy and the runtime's wheel
    emulator: str = ""  # a command prefix tools run under, e.g. "qemu-aarch64 -cpu max": speeds are emulated
    tools: tuple[tuple[str, str], ...] = ()  # binary mode: tool name -> path on the device
    tools_from: str = ""  # binary mode: a folder on this machine whose tools are copied to the device
    timeout_s: float = 900.0  # one command on the device; past it the device counts as hung
    connect_timeout_s: float = 10.0
    keep_artifacts: bool = False  # leave copied artifacts for the next run (copied again only if changed)

    def __post_init__(self) -> None:
        object.__setattr__(self, "workdir", self.workdir or DEFAULT_WORKDIR[self.kind])
        object.__setattr__(self, "mode", self.mode or DEFAULT_MODE[self.kind])

    @property
    def address(self) -> str:
        """Where, for reports: no key, no password, ever."""
        if self.kind == "ssh":
            return f"ssh://{self.user + '@' if self.user else ''}{self.host}:{self.port}"
        if self.kind == "adb":
            return f"adb://{self.serial or '(the only device)'}"
        return "local"

    @property
    def emulated(self) -> bool:
        return bool(self.emulator)

    def tool(self, name: str) -> str:
        return dict(self.tools).get(name, "")

    def public(self) -> dict[str, Any]:
        """The fields a report or manifest may carry."""
        return {"kind": self.kind, "address": self.address, "mode": self.mode, "workdir": self.workdir,
                "emulator": self.emulator or None}


_FIELDS = {f.name: f for f in fields(DeviceSpec)}
_KEYS = set(_FIELDS)


def device_from_dict(d: Any, where: str) -> DeviceSpec:
    """Validate a ``[device]`` table. Raises TargetError naming the key, and refuses passwords outright."""
    from edgeslm.targets import check_keys

    if not isinstance(d, dict):
        raise TargetError(f"{where}: [device] must be a table, e.g. kind = \"ssh\" with host and user.")
    for k in d:
        if k.lower() in _SECRET_KEYS:
            raise TargetError(f"{where}: [device] has a {k!r}; profiles hold no passwords.",
                              hint="use key = PATH to a private key, or load the key into ssh-agent")
    check_keys(d, _KEYS, f"{where}: [device]")
    kind = d.get("kind", "local")
    if kind not in KINDS:
        raise TargetError(f"{where}: [device] kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    mode = d.get("mode", "")
    if mode and mode not in MODES:
        raise TargetError(f"{where}: [device] mode must be agent or binary, not {mode!r}.")
    if kind == "ssh" and not d.get("host"):
        raise TargetError(f"{where}: an ssh device needs host = \"NAME or ADDRESS\".")
    if kind == "adb" and mode == "agent":
        raise TargetError(f"{where}: adb devices run in binary mode: phones have no Python for the agent.",
                          hint="drop mode, or set mode = \"binary\" and name the tools in [device.tools]")
    out: dict[str, Any] = {}
    for k, v in d.items():
        want = _FIELDS[k].type
        if k == "tools":
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                raise TargetError(f"{where}: [device.tools] maps a tool name to its path on the device.")
            unknown = sorted(set(v) - set(TOOL_NAMES))
            if unknown:
                raise TargetError(f"{where}: [device.tools] has no tool {unknown[0]!r}.", hint=f"tools: {', '.join(TOOL_NAMES)}")
            v = tuple(sorted(v.items()))
        elif want == "bool":
            if not isinstance(v, bool):
                raise TargetError(f"{where}: [device] {k} must be true or false, not {v!r}.")
        elif want in ("int", "float"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise TargetError(f"{where}: [device] {k} must be a positive number, not {v!r}.")
            v = int(v) if want == "int" else float(v)
        elif not isinstance(v, str):
            raise TargetError(f"{where}: [device] {k} must be a string, not {v!r}.")
        if k in ("key", "known_hosts", "tools_from") and v:
            v = os.path.expanduser(v)
        out[k] = v
    return DeviceSpec(**out)
