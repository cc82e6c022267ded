"""A real OpenSSH server on 127.0.0.1 for the device tests, with throw-away keys.

Debian's sshd, started by the test itself: its own host key, one user key in
its own authorized_keys, public keys only. ``known_hosts`` holds its host key
the way ssh writes one for a non-standard port.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_available() -> str | None:
    """Why the loopback tests cannot run here, or None."""
    if not Path(SSHD).exists():
        return "Debian's openssh-server is not installed (scripts/install_test_tools.sh installs it)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "the OpenSSH client is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSshd:
    def __init__(self, folder: Path):
        self.dir = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.port = _free_port()
        self.user = getpass.getuser()
        self.host_key = folder / "host_ed25519"
        self.user_key = folder / "user_ed25519"
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (folder / "authorized_keys").write_text(self.user_key.with_suffix(".pub").read_text())
        self.known_hosts = folder / "known_hosts"
        host_pub = " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        self.config = folder / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "StrictModes no", "UsePAM no", f"PidFile {folder / 'sshd.pid'}", "LogLevel ERROR", "",
        ]))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "LoopbackSshd":
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stderr=open(self.dir / "sshd.log", "ab"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not listen within 20 s")

    def kill(self) -> None:
        """Stop the server and every session it serves, as a board losing power would."""
        import psutil

        if self.proc and self.proc.poll() is None:
            # sessions are forked sshd processes (and what they run): end them with the listener
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            self.proc.kill()
            self.proc.wait()

    def device_toml(self, *, known_hosts: Path | None = None, python: str = sys.executable, **extra) -> str:
        """A [device] table for this server (the key path is a real path: reports must not show it)."""
        lines = ['[device]', 'kind = "ssh"', 'host = "127.0.0.1"', f"port = {self.port}", f'user = "{self.user}"',
                 f'key = "{self.user_key}"', f'known_hosts = "{known_hosts or self.known_hosts}"',
                 f'workdir = "{self.dir / "board"}"', f'python = "{python}"']
        lines += [f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {str(v).lower()}"
                  for k, v in extra.items()]
        return "\n".join(line for line in lines if not line.endswith('""')) + "\n"
