"""Docker and Moby containers from the daemon's own files, and from its API socket when they are not readable.

`/var/lib/docker/containers/<id>/config.v2.json` (moby's container.Container as JSON)
holds the name (`"/web"`), the image, labels such as the compose project, the pid of a
running container and the sandbox key (its network namespace under /run/docker/netns/).
A daemon started with another `--data-root` (or `data-root` in /etc/docker/daemon.json)
keeps them there, and listens where its `-H unix://PATH` says: both are read from the
running dockerd's command line, only when a container is not found in the default place.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..backend import procfs
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


def daemon_places(argv: list[str] | tuple[str, ...]) -> tuple[str | None, list[str]]:
    """(data root, unix socket paths) named on a dockerd command line or in daemon.json's "hosts"."""
    root, hosts = None, []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if not eq and i + 1 < len(argv):
            value = argv[i + 1]
        if name in ("--data-root", "-g", "--graph") and (eq or i + 1 < len(argv)):
            root = root or value
        elif name in ("-H", "--host") and value.startswith("unix://"):
            hosts.append(value[len("unix://"):])
    return root, hosts


class Store:
    """The containers of the Docker data roots on this host, read on demand."""

    def __init__(self, root: str, top: str = "/") -> None:
        self.dirs = [os.path.join(root, "containers")]
        self.top = top
        self.sockets: list[str] = []
        self._daemons = False
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._api: dict[str, Owner] | None = None

    def _under(self, path: str) -> str:
        return os.path.join(self.top, path.lstrip("/"))

    def _find_daemons(self) -> None:
        """Data roots and sockets of the running dockerds, daemon.json and DOCKER_HOST (read once)."""
        if self._daemons:
            return
        self._daemons = True
        places = [daemon_places(procfs.cmdline(pid)) for pid in procfs.pids_of("dockerd")]
        try:
            with open(self._under("etc/docker/daemon.json")) as f:
                conf = json.load(f)
            places.append((conf.get("data-root"), [h[7:] for h in conf.get("hosts") or [] if h.startswith("unix://")]))
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        env = os.environ.get("DOCKER_HOST", "")
        sockets = [env[7:]] if env.startswith("unix://") else []
        for root, hosts in places:
            if root and self._under(os.path.join(root, "containers")) not in self.dirs:
                self.dirs.append(self._under(os.path.join(root, "containers")))
            sockets += [self._under(h) for h in hosts]
        sockets.append(self._under("run/docker.sock"))
        self.sockets = list(dict.fromkeys(sockets))

    def _read(self, cid: str) -> dict[str, Any] | None:
        for d in self.dirs:
            try:
                with open(os.path.join(d, cid, "config.v2.json"), "rb") as f:
                    return dict(json.load(f))
            except (OSError, ValueError, TypeError):
                continue
        return None

    def config(self, cid: str) -> dict[str, Any] | None:
        """config.v2.json of container `cid` (a full id), or None."""
        if cid not in self._cache:
            found = self._read(cid)
            if found is None and not self._daemons:
                self._find_daemons()
                found = self._read(cid)
            self._cache[cid] = found
        return self._cache[cid]

    def owner(self, cid: str) -> Owner | None:
        """The owner of container `cid` (from its files, else from the API), or None if Docker has no record of it."""
        data = self.config(cid)
        if data is not None:
            return parse(data)
        if self._api is None:
            from . import dockerapi  # http.client only when the API is asked (~15 ms of start-up otherwise)

            self._find_daemons()
            self._api = {}
            for path in self.sockets:
                if os.path.exists(path):
                    self._api.update(dockerapi.containers(path))
        return self._api.get(cid)

    def all(self) -> list[dict[str, Any]]:
        """Every container's config.v2.json, in every data root found."""
        self._find_daemons()
        ids: list[str] = []
        for d in self.dirs:
            try:
                ids += sorted(os.listdir(d))
            except OSError:
                continue
        return [c for c in (self.config(i) for i in dict.fromkeys(ids)) if c is not None]
