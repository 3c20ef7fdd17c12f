"""The controller's record of a lab across hosts: which hosts hold a part of it, and a lock.

Kept under the state directory (`hosts/<lab>.json`), apart from the labs this host runs
itself, so a controller that is also one of the lab's hosts keeps both.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .. import state
from ..lab import paths
from ..lab.journal import LabLock

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


class Lock(LabLock):
    """The controller's lock of one lab across hosts (apart from the lock of this host's own part)."""

    def path(self) -> str:
        """The lock file, beside the record."""
        return _path(self.name, "lock")
