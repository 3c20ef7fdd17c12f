"""podman containers and pods from podman's own files (no API call, no podman process).

containers/storage's `overlay-containers/containers.json` names every container and the
image it came from; libpod's `libpod/bolt_state.db` holds each container's config as JSON
(its pod, whether it is a pod's infra container) and each pod's config. A bolt database
keeps values contiguous on disk, so the JSON documents are read straight from the file
without a bolt library; stale copies of a record carry the same immutable id and name.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..model import Owner

DEFAULT_ROOTS = ("/var/lib/containers/storage",)
_CONTAINER = re.compile(rb'\{"spec":')
_POD = re.compile(rb'\{"id":"([0-9a-f]{64})","name":"')


def parse_storage(text: str) -> dict[str, dict[str, str | None]]:
    """containers.json -> {id: {"name", "image"}}."""
    out: dict[str, dict[str, str | None]] = {}
    for entry in json.loads(text or "[]"):
        try:
            meta = json.loads(entry.get("metadata") or "{}")
        except ValueError:
            meta = {}
        names = entry.get("names") or []
        out[entry["id"]] = {"name": names[0] if names else meta.get("name"), "image": meta.get("image-name") or None}
    return out


def scan_bolt(data: bytes) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(container configs by id, pod names by id) found in a libpod bolt_state.db's bytes."""
    decoder = json.JSONDecoder()
    text = data.decode("latin-1")  # byte-preserving; the JSON itself is ASCII-escaped by Go
    containers: dict[str, dict[str, Any]] = {}
    for m in _CONTAINER.finditer(data):
        try:
            doc, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            containers.setdefault(doc["id"], doc)
    pods: dict[str, str] = {}
    for m in _POD.finditer(data):
        try:
            doc, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(doc, dict) and "spec" not in doc and isinstance(doc.get("name"), str):
            pods.setdefault(doc["id"], doc["name"])
    return containers, pods


def owner_of(cid: str, name: str | None, image: str | None, config: dict[str, Any] | None, pods: dict[str, str]) -> Owner:
    """One container's owner: a pod when it is the pod's infra container."""
    config = config or {}
    pod_id = config.get("pod") or None
    pod = pods.get(pod_id, pod_id) if pod_id else None
    name = name or config.get("name")
    image = image or config.get("rootfsImageName") or None
    if pod and config.get("pause") is True:  # libpod keeps ContainerConfig.IsInfra under the JSON key "pause"
        return Owner("pod", "podman", pod_id, pod, pod, None, image)
    return Owner("container", "podman", cid, name, pod, None, image)


class Store:
    """One podman storage root (graph root), read once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._storage: dict[str, dict[str, str | None]] | None = None
        self._bolt: tuple[dict[str, dict[str, Any]], dict[str, str]] | None = None

    def _load(self) -> None:
        try:
            with open(os.path.join(self.root, "overlay-containers", "containers.json")) as f:
                self._storage = parse_storage(f.read())
        except (OSError, ValueError, KeyError, TypeError):
            self._storage = {}
        try:
            with open(os.path.join(self.root, "libpod", "bolt_state.db"), "rb") as f:
                self._bolt = scan_bolt(f.read())
        except OSError:
            self._bolt = ({}, {})

    def owner(self, cid: str, name: str | None = None) -> Owner | None:
        """The owner of container `cid`, or None if this store does not know it (and no name was given)."""
        if self._storage is None or self._bolt is None:
            self._load()
        assert self._storage is not None and self._bolt is not None
        configs, pods = self._bolt
        entry = self._storage.get(cid) or {}
        if not entry and cid not in configs and name is None:
            return None
        return owner_of(cid, name or entry.get("name"), entry.get("image"), configs.get(cid), pods)


def root_of_bundle(bundle: str | None) -> str | None:
    """The storage root of a conmon bundle path ROOT/overlay-containers/ID/userdata, or None."""
    if not bundle:
        return None
    parts = bundle.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-1] == "userdata" and parts[-3].endswith("-containers"):
        return "/".join(parts[:-3]) or "/"
    return None
