"""A process a lab starts inside a namespace, as a Step: rollback and `down` stop it by pid."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ..backend import process as procb
from ..errors import Failed, IncompleteUndo
from ..steps import Receipt, Session, Step, View, in_ns
from . import paths

SETTLE = 0.2


def resolve_argv(argv: tuple[str, ...]) -> list[str]:
    """argv to run: a first word `vnetctl` runs this very vnetctl (`python -m vnetctl`)."""
    if argv and argv[0] == "vnetctl":
        return [sys.executable, "-m", "vnetctl", *argv[1:]]
    return list(argv)


def private_dir(path: str) -> str:
    """Create (if needed) a 0700 directory, refusing a symlink in its place."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
        raise Failed(f"runtime directory {path} is not a private directory of ours", "remove it and retry")
    os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class ProcessStart(Step):
    """Start a program (argv list, no shell) inside a namespace; undo stops exactly that process."""

    name: str
    argv: tuple[str, ...]
    lab: str
    netns: str | None = None
    ready: tuple[tuple[str, Any], ...] = ()
    timeout: float = 10.0
    env: tuple[tuple[str, str], ...] = ()
    caps: ClassVar[frozenset[str]] = frozenset({"CAP_NET_ADMIN", "CAP_SYS_ADMIN"})

    def _files(self) -> tuple[str, str]:
        run = paths.run_dir(self.lab)
        return os.path.join(run, f"{self.name}.pid"), os.path.join(run, f"{self.name}.log")

    def apply(self, s: Session) -> Receipt:
        run = private_dir(paths.run_dir(self.lab))
        pid_file, log_file = self._files()
        env = dict(os.environ, **dict(self.env)) if self.env else None
        pid, start = procb.spawn(resolve_argv(self.argv), s.ns(self.netns), log_file, env=env, cwd=run)
        _write_private(pid_file, json.dumps({"pid": pid, "start": start, "argv": list(self.argv)}))
        receipt = {"pid": pid, "start": start}
        try:
            self._wait_ready(s, pid, start, log_file)
        except BaseException:
            self.undo(s, receipt)
            raise
        return receipt

    def _wait_ready(self, s: Session, pid: int, start: int, log_file: str) -> None:
        ready = dict(self.ready)
        deadline = time.monotonic() + self.timeout
        settle = time.monotonic() + SETTLE
        delay = 0.005
        while True:
            if not procb.alive(pid, start):
                procb.reap(pid)
                raise Failed(f"process {self.name!r} exited during start-up: {_tail(log_file)}",
                             "check its argv in the lab file")
            if ready and self._is_ready(s, ready):
                return
            if not ready and time.monotonic() > settle:
                return  # no readiness declared: alive after the settle time is as ready as we can tell
            if time.monotonic() > deadline:
                raise Failed(f"process {self.name!r} not ready after {self.timeout:g}s (waiting for "
                             + ", ".join(f"{k} {v}" for k, v in ready.items()) + f"): {_tail(log_file)}",
                             "check its argv and 'ready' in the lab file")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _is_ready(self, s: Session, ready: dict[str, Any]) -> bool:
        if "device" in ready and s.nl(self.netns).link(ready["device"]) is None:
            return False
        if "port" in ready and not procb.listening(s.ns(self.netns), int(ready["port"]), ready.get("proto", "tcp")):
            return False
        if "file" in ready and not os.path.exists(ready["file"]):
            return False
        return True

    def undo(self, s: Session, receipt: Receipt) -> None:
        pid_file, _ = self._files()
        if receipt is None:
            try:
                with open(pid_file) as f:
                    receipt = json.load(f)
            except (FileNotFoundError, ValueError):
                return  # it never started
        assert receipt is not None
        if not procb.stop(int(receipt["pid"]), receipt.get("start")):
            raise IncompleteUndo(f"process {self.name!r} (pid {receipt['pid']}) did not stop", [self.describe()])
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass

    def command(self) -> str:
        _, log_file = self._files()
        return in_ns(self.netns, *self.argv) + f" >{shlex.quote(log_file)} 2>&1 &"

    def describe(self) -> str:
        return f"start process {self.name}" + (f" in {self.netns}" if self.netns else "")

    def drift(self, view: View, owner: str, receipt: Receipt) -> str | None:
        if not receipt or not procb.alive(int(receipt["pid"]), receipt.get("start")):
            return f"process {self.name} (pid {(receipt or {}).get('pid')}) is not running"
        return None


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def _tail(path: str, n: int = 3) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return " | ".join(lines[-n:]) or "no output"

