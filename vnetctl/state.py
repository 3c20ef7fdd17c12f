"""vnetctl's own files under the state directory (/run/vnetctl): private, never followed links."""

from __future__ import annotations

import json
import os
from typing import Any

STATE_DIR = "/run/vnetctl"


def state_dir() -> str:
    """The state directory (VNETCTL_STATE_DIR overrides it, e.g. for tests)."""
    return os.environ.get("VNETCTL_STATE_DIR", STATE_DIR)


def subdir(*parts: str) -> str:
    """A private directory under the state directory, created on demand."""
    os.makedirs(state_dir(), mode=0o700, exist_ok=True)  # makedirs gives only the leaf `mode`
    path = os.path.join(state_dir(), *parts)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def write_json(path: str, data: Any) -> None:
    """Atomically write a private JSON file (0600, never through a symlink)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """Read a JSON file written by write_json (None if missing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as f:
        return json.load(f)


def remove(path: str) -> None:
    """Remove a file if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _netns_record(name: str) -> str:
    return os.path.join(subdir("netns"), name + ".json")


def record_netns(name: str, inode: int, owner: str, cookie: int | None = None) -> None:
    """Remember that vnetctl created named namespace `name`: its netns cookie proves which one (inode 0: not yet named)."""
    write_json(_netns_record(name), {"inode": inode, "owner": owner, "cookie": cookie})


def netns_record(name: str) -> dict[str, Any] | None:
    """What vnetctl recorded of named namespace `name` (None if nothing, or nothing readable)."""
    try:
        rec = read_json(_netns_record(name))
    except ValueError:
        return None  # damaged: proves nothing
    return rec if isinstance(rec, dict) else None


def forget_netns(name: str) -> None:
    """Drop the record of a namespace."""
    remove(_netns_record(name))


def owned_netns(damaged: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every recorded namespace: name -> {inode, owner, cookie}; unreadable records are named in `damaged`."""
    d = subdir("netns")
    out = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".json"):
            path = os.path.join(d, fn)
            try:
                rec = read_json(path)
            except ValueError as e:
                rec = None
                if damaged is not None:
                    damaged.append(f"{path} is damaged ({type(e).__name__}: {e})")
            if isinstance(rec, dict):
                out[fn[:-5]] = rec
    return out
