"""Docker and Moby containers from the daemon's own files (no API call).

`/var/lib/docker/containers/<id>/config.v2.json` (moby's container.Container as JSON)
holds the name (`"/web"`), the image, labels such as the compose project, the pid of a
running container and the sandbox key (its network namespace under /run/docker/netns/).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..model import Owner

COMPOSE_PROJECT = "com.docker.compose.project"


def parse(data: dict[str, Any]) -> Owner:
    """The owner described by one config.v2.json."""
    config = data.get("Config") or {}
    labels = config.get("Labels") or {}
    name = (data.get("Name") or "").lstrip("/") or None
    return Owner("container", "docker", data.get("ID"), name, labels.get(COMPOSE_PROJECT), None, config.get("Image"))


def running_pid(data: dict[str, Any]) -> int | None:
    """The pid of a running container's first process (State.Pid), or None."""
    state = data.get("State") or {}
    pid = state.get("Pid")
    return pid if state.get("Running") and isinstance(pid, int) and pid > 0 else None


def sandbox_key(data: dict[str, Any]) -> str | None:
    """The nsfs path of the container's network namespace (NetworkSettings.SandboxKey), or None."""
    key = (data.get("NetworkSettings") or {}).get("SandboxKey")
    return key or None


class Store:
    """The containers of one Docker data root, read on demand."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "containers")
        self._cache: dict[str, dict[str, Any] | None] = {}

    def config(self, cid: str) -> dict[str, Any] | None:
        """config.v2.json of container `cid` (a full id), or None."""
        if cid not in self._cache:
            try:
                with open(os.path.join(self.dir, cid, "config.v2.json"), "rb") as f:
                    self._cache[cid] = json.load(f)
            except (OSError, ValueError):
                self._cache[cid] = None
        return self._cache[cid]

    def owner(self, cid: str) -> Owner | None:
        """The owner of container `cid`, or None if Docker has no record of it."""
        data = self.config(cid)
        return parse(data) if data is not None else None

    def all(self) -> list[dict[str, Any]]:
        """Every container's config.v2.json."""
        try:
            ids = sorted(os.listdir(self.dir))
        except OSError:
            return []
        return [c for c in (self.config(i) for i in ids) if c is not None]
