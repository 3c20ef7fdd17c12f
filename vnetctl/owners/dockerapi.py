"""The Docker Engine API over its unix socket, read-only: the containers' names when their files are not readable.

Never required: a socket that is missing, refuses, is slow (TIMEOUT) or answers nonsense
gives no containers. Only `GET /containers/json?all=1` is asked, once per socket.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from ..model import Owner
from .docker import COMPOSE_PROJECT

TIMEOUT = 1.0


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 to a unix socket path instead of a host and port."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get(path: str, url: str) -> Any:
    """The decoded JSON of GET `url` on the API socket at `path`, or None on any failure."""
    conn = _UnixConnection(path)
    try:
        conn.request("GET", url, headers={"Host": "docker"})
        resp = conn.getresponse()
        body = resp.read(16 << 20)
        return json.loads(body) if resp.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def parse(entry: dict[str, Any]) -> Owner | None:
    """One item of GET /containers/json as an owner (None if it has no id)."""
    cid = entry.get("Id")
    if not isinstance(cid, str):
        return None
    names = [n.lstrip("/") for n in entry.get("Names") or [] if isinstance(n, str)]
    labels = entry.get("Labels") or {}
    return Owner("container", "docker", cid, names[0] if names else None, labels.get(COMPOSE_PROJECT), None,
                 entry.get("Image") or None)


def containers(path: str) -> dict[str, Owner]:
    """Every container the daemon at socket `path` knows, by full id ({} if it cannot be asked)."""
    listed = get(path, "/containers/json?all=1")
    if not isinstance(listed, list):
        return {}
    found = (parse(e) for e in listed if isinstance(e, dict))
    return {o.id: o for o in found if o is not None and o.id}
