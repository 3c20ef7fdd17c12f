"""The transport: the OpenSSH client, so keys, known hosts, agents and jump hosts come from the user's config.

One `ssh` process per host carries JSON lines both ways: requests to the agent on its
stdin, replies and progress from its stdout; the agent's stderr is relayed, prefixed with
the host's name. VNETCTL_SSH_CONFIG names an ssh_config file used instead of ~/.ssh/config.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from .. import errors
from ..errors import Unreachable, VnetError
from ..lab.hosts import parse_ssh
from ..lab.spec import Host
from . import bundle

CONNECT_TIMEOUT = 20  # seconds for TCP and the SSH banner
HANDSHAKE_TIMEOUT = 60  # and for sending the bundle the first time
OPTIONS = ("-T", "-e", "none", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
           "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")


def ssh_base(host: Host) -> list[str]:
    """`ssh [options] [-p PORT] [user@]host` for a host of the lab."""
    if shutil.which("ssh") is None:
        raise errors.NotFound("program 'ssh' not found", "install the Debian package openssh-client; nothing was changed")
    user, name, port = parse_ssh(host.ssh)
    argv = ["ssh", *OPTIONS]
    config = os.environ.get("VNETCTL_SSH_CONFIG")
    if config:
        argv += ["-F", config]
    if port:
        argv += ["-p", str(port)]
    return argv + [f"{user}@{name}" if user else name]


def underlay(host: Host) -> str:
    """The host's underlay address: as declared, else the address its ssh destination resolves to."""
    if host.underlay:
        return host.underlay
    _, name, _ = parse_ssh(host.ssh)
    try:
        out = subprocess.run([*ssh_base(host)[:-1], "-G", ssh_base(host)[-1]], capture_output=True, text=True, timeout=10)
        name = next((ln.split(None, 1)[1] for ln in out.stdout.splitlines() if ln.startswith("hostname ")), name)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)[0][4][0])
    except OSError as e:
        raise Unreachable(f"host {host.name}: cannot resolve {name!r} to an underlay address ({e})",
                          "give the host an 'underlay' address in the lab file; nothing was changed") from None


def remote_error(host: str, err: dict[str, Any]) -> VnetError:
    """An agent's error reply as the VnetError class it was raised as, naming the host."""
    cls = getattr(errors, str(err.get("type")), None)
    msg = f"host {host}: {err.get('message')}"
    if cls is errors.IncompleteUndo:
        return errors.IncompleteUndo(msg, list(err.get("left") or []), err.get("hint") or "")
    if not (isinstance(cls, type) and issubclass(cls, VnetError)) or cls in (errors.LabError, errors.BackendError):
        e = errors.Failed(msg, err.get("hint") or "", err.get("changed") or "")
        e.exit_code = int(err.get("code") or 1)
        return e
    return cls(msg, err.get("hint") or "", err.get("changed") or "")


class Connection:
    """An agent on one host, reached through one ssh process."""

    def __init__(self, host: Host, relay: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.name = host.name
        self.relay = relay or (lambda line: sys.stderr.write(f"{host.name}: {line}\n"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.errors: list[str] = []
        self.info: dict[str, Any] = {}

    def open(self) -> Connection:
        """Start ssh and the agent (sending the bundle if the host lacks it); Unreachable on failure."""
        argv = ssh_base(self.host) + [shlex.join(bundle.boot_argv(self.host.python, bundle.digest()))]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)  # a Ctrl-C reaches vnetctl, which then aborts in order
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        first = self._first(HANDSHAKE_TIMEOUT)
        if "need" in first:
            data = bundle.build()
            self._write(f"{len(data)}\n".encode() + data)
            first = self._first(HANDSHAKE_TIMEOUT)
        if first.get("error") == "python":
            self.close()
            raise errors.Unsupported(f"host {self.name}: {self.host.python} is Python {first.get('version')}; vnetctl needs 3.11+",
                                     "install Python 3.11 or newer there, or set 'python' for the host; nothing was changed")
        if "ready" not in first:
            self.close()
            raise self.lost("did not start the agent")
        self.info = first
        return self

    def _first(self, timeout: float) -> dict[str, Any]:
        try:
            msg = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise Unreachable(f"host {self.name} ({self.host.ssh}) did not answer within {timeout:.0f}s",
                              "check the host and its sshd; nothing was changed") from None
        if msg is None:
            self.close()
            raise Unreachable(f"host {self.name} ({self.host.ssh}) is unreachable: {self.why()}",
                              f"check that 'ssh {self.host.ssh} true' works without a prompt; nothing was changed")
        return msg

    def why(self) -> str:
        """The last thing ssh (or the agent) said on stderr."""
        return self.errors[-1] if self.errors else "the connection closed"

    def lost(self, doing: str) -> VnetError:
        """The error for a connection that closed while `doing`."""
        return Unreachable(f"host {self.name}: connection lost ({doing}): {self.why()}", "")

    def _read_out(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.relay(raw.decode(errors="replace").rstrip())
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.errors.append(line)
                self.relay(line)

    def _write(self, data: bytes) -> bool:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def send(self, msg: dict[str, Any]) -> bool:
        """Send one request; False if the channel is closed."""
        return self._write((json.dumps(msg) + "\n").encode())

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next reply or progress line; None when the channel closed; queue.Empty on timeout."""
        return self.lines.get(timeout=timeout)

    def call(self, msg: dict[str, Any], doing: str) -> dict[str, Any]:
        """One request and its reply; the agent's error raised as the same VnetError class."""
        self.send(msg)
        while True:
            reply = self.recv()
            if reply is None:
                raise self.lost(doing)
            if "ok" in reply:
                if not reply["ok"]:
                    raise remote_error(self.name, reply["error"])
                return reply

    def close(self, wait: float = 30) -> None:
        """Close the channel (the agent undoes anything uncommitted) and wait for ssh to exit."""
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
