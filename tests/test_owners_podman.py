"""Owners with a real podman (rootful, daemonless, its own root and runroot, a busybox rootfs, no image pull).

Checked against podman's own view (`podman inspect`, `podman ps`) and /proc: the namespace
of a container's first process is the one vnetctl names after the container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BUSYBOX, busybox_rootfs, ip_json, tar_of, vnetctl

pytestmark = pytest.mark.kernel


class Podman:
    """podman confined to a temporary root, runroot and config; every container removed afterwards."""

    def __init__(self, base: Path) -> None:
        self.base = base
        conf = base / "containers.conf"
        # The sandbox lacks CAP_SYS_RESOURCE and has no cgroup controllers of its own: no cgroups for containers.
        conf.write_text('[containers]\ncgroups = "disabled"\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf))
        self.runroot = tempfile.mkdtemp(prefix="pm.", dir="/run")  # podman refuses a runroot of 50 characters or more
        self.cmd = ["podman", "--root", str(base / "root"), "--runroot", self.runroot, "--tmpdir", str(base / "tmp")]
        self.rootfs = busybox_rootfs(base / "rootfs")
        (self.rootfs / "bin" / "podinfra").write_text("#!/bin/sh\nexec sleep 100000\n")
        (self.rootfs / "bin" / "podinfra").chmod(0o755)

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(self.cmd + list(args), capture_output=True, text=True, env=self.env, timeout=120)
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def image(self) -> str:
        """A local image made from the busybox rootfs (podman import: nothing is pulled)."""
        self("import", "-q", str(tar_of(self.rootfs, self.base / "rootfs.tar")), "localhost/vnetctl-bb")
        return "localhost/vnetctl-bb"

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(self("inspect", name))[0]


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    if shutil.which("podman") is None or not os.path.exists(BUSYBOX):
        pytest.skip("podman or busybox-static not installed (make deps)")
    fs = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True).stdout.strip()
    if fs not in ("cgroup2fs", "tmpfs"):
        # crun wants a cgroup file system there; the sandbox's fresh /sys has none (private mount namespace)
        subprocess.run(["mount", "-t", "cgroup2", "none", "/sys/fs/cgroup"], check=True)
    p = Podman(tmp_path)
    yield p
    subprocess.run(p.cmd + ["pod", "rm", "-f", "-a", "-t", "0"], capture_output=True, env=p.env, timeout=120)
    for _ in range(2):  # a container others share the network of goes only after them
        subprocess.run(p.cmd + ["rm", "-f", "-a", "-t", "0"], capture_output=True, env=p.env, timeout=120)
    shutil.rmtree(p.runroot, ignore_errors=True)


def netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def namespaces() -> dict[int, dict[str, Any]]:
    data = json.loads(vnetctl("inspect", "--json", check=True).stdout)
    return {ns["inode"]: ns for ns in data["namespaces"]}


def test_container_and_its_network_sharer_are_named(podman: Podman) -> None:
    podman("run", "-d", "--name", "web", "--network", "bridge", "--rootfs", str(podman.rootfs), "/bin/sleep", "1000")
    podman("run", "-d", "--name", "side", "--network", "container:web", "--rootfs", str(podman.rootfs), "/bin/sleep", "1001")
    web, side = podman.inspect("web"), podman.inspect("side")
    inode = netns_inode(web["State"]["Pid"])
    assert netns_inode(side["State"]["Pid"]) == inode
    ns = namespaces()[inode]
    got = {o["name"]: o for o in ns["owners"]}
    assert set(got) == {"web", "side"}
    assert got["web"] == {"kind": "container", "runtime": "podman", "id": web["Id"], "name": "web", "pod": None,
                          "pod_namespace": None, "image": None}
    assert got["side"]["id"] == side["Id"]
    tree = vnetctl("inspect", check=True).stdout
    assert any(f"inode {inode}" in ln and "web (podman)" in ln and "side (podman)" in ln for ln in tree.splitlines())


def test_ask_by_owner(podman: Podman) -> None:
    podman("run", "-d", "--name", "web", "--network", "bridge", "--rootfs", str(podman.rootfs), "/bin/sleep", "1000")
    pid = podman.inspect("web")["State"]["Pid"]
    one = json.loads(vnetctl("inspect", "-n", "podman:web", "--json", check=True).stdout)
    assert [ns["inode"] for ns in one["namespaces"]] == [netns_inode(pid)]
    by_any = json.loads(vnetctl("inspect", "-n", "container:web", "--json", check=True).stdout)
    assert [ns["inode"] for ns in by_any["namespaces"]] == [netns_inode(pid)]
    # netns exec podman:web runs inside the container's namespace: the oracle is ip -j through nsenter
    inside = json.loads(vnetctl("netns", "exec", "podman:web", "--", "ip", "-j", "link", "show", "eth0", check=True).stdout)
    oracle = json.loads(subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show", "eth0"],
                                       capture_output=True, text=True, check=True).stdout)
    assert inside[0]["address"] == oracle[0]["address"]
    # the host end of eth0: a port of podman's bridge here; who names the container at the other end
    host_end = next(d["ifname"] for d in ip_json("link", "show") if d.get("link_index") == oracle[0]["ifindex"]
                    or d["ifindex"] == oracle[0].get("link_index"))
    line = vnetctl("inspect", "who", host_end, check=True).stdout
    assert f"{host_end} #" in line and "⇄ eth0 #" in line and "of web (podman)" in line
    peer = json.loads(vnetctl("inspect", "peer", "eth0", "-n", "podman:web", "--json", check=True).stdout)
    assert peer["peer"]["name"] == host_end
    missing = vnetctl("inspect", "-n", "podman:nosuch")
    assert missing.returncode == 4 and "nosuch" in missing.stderr and "Traceback" not in missing.stderr


def test_pod_is_named_by_its_infra_container(podman: Podman) -> None:
    image = podman.image()
    pod_id = podman("pod", "create", "--name", "mypod", "--infra-image", image, "--infra-command", "/bin/podinfra",
                    "--infra-name", "mypod-infra")
    podman("run", "-d", "--pod", "mypod", "--name", "app", image, "/bin/sleep", "1002")
    app = podman.inspect("app")
    inode = netns_inode(app["State"]["Pid"])
    owners = namespaces()[inode]["owners"]
    assert owners[0] == {"kind": "pod", "runtime": "podman", "id": pod_id, "name": "mypod", "pod": "mypod",
                         "pod_namespace": None, "image": image + ":latest"}
    assert {"kind": "container", "name": "app", "pod": "mypod", "id": app["Id"]}.items() <= owners[1].items()
    one = json.loads(vnetctl("inspect", "-n", "pod:mypod", "--json", check=True).stdout)
    assert [ns["inode"] for ns in one["namespaces"]] == [inode]
    assert "mypod (pod)" in vnetctl("inspect", check=True).stdout
