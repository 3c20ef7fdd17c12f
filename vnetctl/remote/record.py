"""The controller's record of a lab across hosts: which hosts hold a part of it, and a lock.

Kept under the state directory (`hosts/<lab>.json`), apart from the labs this host runs
itself, so a controller that is also one of the lab's hosts keeps both.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from .. import state
from ..errors import Locked
from ..lab import paths

DIR = "hosts"


def _path(name: str, ext: str) -> str:
    paths.lab_dir(name)  # refuses a name that is no lab's (a path, '..')
    return os.path.join(state.subdir(DIR), f"{name}.{ext}")


def read(name: str) -> dict[str, Any] | None:
    """The record of lab `name` (None when this controller has none)."""
    if not os.path.isdir(os.path.join(state.state_dir(), DIR)):
        return None
    return state.read_json(_path(name, "json"))


def write(name: str, **fields: Any) -> dict[str, Any]:
    """Update the record of lab `name`."""
    rec = read(name) or {}
    rec.update(fields, updated=time.time())
    state.write_json(_path(name, "json"), rec)
    return rec


def forget(name: str) -> None:
    """Drop the record (every host's part is down)."""
    state.remove(_path(name, "json"))


def names() -> list[str]:
    """Labs across hosts this controller has a record of."""
    d = os.path.join(state.state_dir(), DIR)
    try:
        return sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json") and paths.valid_name(f[:-5]))
    except FileNotFoundError:
        return []


class Lock:
    """An exclusive flock on the controller's lock of one lab, recording the holder's pid."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        fd = os.open(_path(self.name, "lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Locked(f"lab {self.name!r} is locked by another vnetctl on this controller (pid {holder})",
                         "wait for it to finish, then retry; nothing was changed") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None
