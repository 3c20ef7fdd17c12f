"""Kubernetes containers of containerd (CRI) and CRI-O, from the OCI config.json each keeps per task.

Both runtimes write the pod's identity into the OCI spec's annotations: containerd under
`io.kubernetes.cri.*` (task bundle `/run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/`),
CRI-O under `io.kubernetes.pod.*` / `io.kubernetes.cri-o.*` (`/run/containers/storage/
overlay-containers/<id>/userdata/`). A sandbox (pause) container stands for the pod.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..model import Owner

CONTAINERD_TASKS = "run/containerd/io.containerd.runtime.v2.task"
CRIO_USERDATA = ("run/containers/storage/overlay-containers", "var/lib/containers/storage/overlay-containers")


def parse_containerd(cid: str, annotations: dict[str, str]) -> Owner:
    """The owner one containerd task's annotations describe (a pod for the sandbox)."""
    a = annotations
    pod, pod_ns = a.get("io.kubernetes.cri.sandbox-name"), a.get("io.kubernetes.cri.sandbox-namespace")
    if a.get("io.kubernetes.cri.container-type") == "sandbox":
        return Owner("pod", "containerd", cid, pod, pod, pod_ns, a.get("io.kubernetes.cri.image-name"))
    name = a.get("io.kubernetes.cri.container-name") or a.get("nerdctl/name")
    return Owner("container", "containerd", cid, name, pod, pod_ns, a.get("io.kubernetes.cri.image-name"))


def parse_crio(cid: str, annotations: dict[str, str]) -> Owner:
    """The owner one CRI-O container's annotations describe (a pod for the sandbox)."""
    a = annotations
    pod, pod_ns = a.get("io.kubernetes.pod.name"), a.get("io.kubernetes.pod.namespace")
    image = a.get("io.kubernetes.cri-o.ImageName") or a.get("io.kubernetes.cri-o.Image")
    if a.get("io.kubernetes.cri-o.ContainerType") == "sandbox":
        return Owner("pod", "cri-o", cid, pod, pod, pod_ns, image)
    return Owner("container", "cri-o", cid, a.get("io.kubernetes.container.name"), pod, pod_ns, image)


def _annotations(path: str) -> dict[str, str] | None:
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    annotations = data.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


class Store:
    """containerd's task bundles and CRI-O's container directories under one root."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._namespaces: list[str] | None = None

    def owner(self, cid: str, runtime: str | None) -> Owner | None:
        """The owner of container `cid` (runtime None: whichever of the two knows it)."""
        if runtime in (None, "containerd"):
            base = os.path.join(self.root, CONTAINERD_TASKS)
            if self._namespaces is None:
                try:
                    self._namespaces = sorted(os.listdir(base))
                except OSError:
                    self._namespaces = []
            for ns in self._namespaces:
                found = _annotations(os.path.join(base, ns, cid, "config.json"))
                if found is not None:
                    return parse_containerd(cid, found)
        if runtime in (None, "cri-o"):
            for d in CRIO_USERDATA:
                found = _annotations(os.path.join(self.root, d, cid, "userdata", "config.json"))
                if found is not None and any(k.startswith("io.kubernetes.") for k in found):
                    return parse_crio(cid, found)
        return None
