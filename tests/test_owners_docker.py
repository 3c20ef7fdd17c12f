"""Owners with a real Docker engine: dockerd with its own data root, exec root and socket, a `docker import`ed
busybox rootfs, nothing pulled.

Checked against Docker's own view (`docker inspect`), `ip -j link` and /proc: the namespace of a
container's first process is the one vnetctl names after the container.
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

from tests.helpers import BUSYBOX, VNETCTL, busybox_rootfs, ip_json, tar_of, vnetctl, wait_for

pytestmark = pytest.mark.kernel
IMAGE = "vnetctl-bb"


class Docker:
    """A dockerd of the test's own (data root in tmp_path, exec root and socket under /run), stopped afterwards."""

    def __init__(self, base: Path) -> None:
        self.run = Path(tempfile.mkdtemp(prefix="dk.", dir="/run"))  # a unix socket path must stay short
        self.sock = self.run / "docker.sock"
        self.data = base / "data"
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self.log = base / "dockerd.log"
        self.made = [p for p in (Path("/run/docker"), Path("/run/containerd")) if not p.exists()]  # dockerd makes these
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.data), "--exec-root", str(self.run / "exec"),
                 "--pidfile", str(self.run / "dockerd.pid"), "--host", f"unix://{self.sock}",
                 "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false", "--storage-driver", "vfs"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or self.answers(), timeout=60, what="dockerd to answer")
        assert self.proc.poll() is None, f"dockerd exited: {self.log.read_text()[-2000:]}"

    def answers(self) -> bool:
        return subprocess.run(["docker", "version"], capture_output=True, env=self.env, timeout=30).returncode == 0

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env, timeout=120)
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(self("inspect", name))[0]

    def stop(self) -> None:
        ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, env=self.env, timeout=60).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, env=self.env, timeout=120)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for path in [self.run, *self.made]:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def docker(tmp_path: Path) -> Iterator[Docker]:
    if shutil.which("dockerd") is None or shutil.which("docker") is None or not os.path.exists(BUSYBOX):
        pytest.skip("dockerd (docker.io) or busybox-static not installed (make deps)")
    fs = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True).stdout.strip()
    if fs not in ("cgroup2fs", "tmpfs"):
        # runc wants a cgroup file system there; the sandbox's fresh /sys has none (private mount namespace)
        subprocess.run(["mount", "-t", "cgroup2", "none", "/sys/fs/cgroup"], check=True)
    # dockerd sets the bridge-netfilter sysctls of the sandbox's namespace: they are put back for the tests after
    kept = {p: p.read_text() for p in Path("/proc/sys/net/bridge").glob("bridge-nf-call-*")}
    d = Docker(tmp_path)
    try:
        d("import", str(tar_of(busybox_rootfs(tmp_path / "rootfs"), tmp_path / "rootfs.tar")), IMAGE)
        yield d
    finally:
        d.stop()
        for path, value in kept.items():
            path.write_text(value)


def start_web(docker: Docker) -> dict[str, Any]:
    """Container `web` (compose project `shop`) on docker's default bridge; its `docker inspect`."""
    docker("run", "--pull", "never", "-d", "--name", "web", "--label", "com.docker.compose.project=shop",
           "--network", "bridge", IMAGE, "/bin/sleep", "1000")
    return docker.inspect("web")


def netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def run_hiding(hidden: tuple[Path, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """vnetctl ARGS run where the `hidden` directories look empty (an empty tmpfs over each, in a mount namespace of its own)."""
    hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'for d in $HIDE; do mount -t tmpfs hidden "$d"; done; exec "$@"', "hide"] if hidden else []
    env = dict(os.environ, HIDE=" ".join(map(str, hidden)))
    proc = subprocess.run([*hide, *VNETCTL, *args], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def owners_of(inode: int, hidden: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """The owners `vnetctl inspect --json` gives namespace `inode`, run where the `hidden` directories look empty."""
    out = run_hiding(hidden, "inspect", "--json").stdout
    return next(ns["owners"] for ns in json.loads(out)["namespaces"] if ns["inode"] == inode)


def test_docker_container_is_named(docker: Docker) -> None:
    web = start_web(docker)
    inode = netns_inode(web["State"]["Pid"])
    assert owners_of(inode) == [{"kind": "container", "runtime": "docker", "id": web["Id"], "name": "web", "pod": "shop",
                                 "pod_namespace": None, "image": web["Config"]["Image"]}]
    assert web["Config"]["Image"] == IMAGE and web["Name"] == "/web"
    tree = vnetctl("inspect", check=True).stdout
    assert any(f"inode {inode}" in ln and "web (docker)" in ln for ln in tree.splitlines())


def test_ask_docker_container_by_name(docker: Docker) -> None:
    pid = start_web(docker)["State"]["Pid"]
    one = json.loads(vnetctl("inspect", "-n", "docker:web", "--json", check=True).stdout)
    assert [ns["inode"] for ns in one["namespaces"]] == [netns_inode(pid)]
    assert one["namespaces"][0]["owners"][0]["name"] == "web"
    inside = json.loads(vnetctl("netns", "exec", "docker:web", "--", "ip", "-j", "link", "show", "eth0", check=True).stdout)
    oracle = json.loads(subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show", "eth0"],
                                       capture_output=True, text=True, check=True).stdout)
    assert inside[0]["address"] == oracle[0]["address"]
    # the host end of eth0 is a port of docker0 here (ip -j link: its link_index is eth0's ifindex)
    host_end = next(d for d in ip_json("link", "show") if d.get("link_index") == oracle[0]["ifindex"]
                    and d.get("master") == "docker0")["ifname"]
    line = vnetctl("inspect", "who", host_end, check=True).stdout
    assert f"{host_end} #" in line and f"⇄ eth0 #{oracle[0]['ifindex']}" in line and "of web (docker)" in line
    who = json.loads(vnetctl("inspect", "who", host_end, "--json", check=True).stdout)
    assert who["peer"]["netns_inode"] == netns_inode(pid) and who["peer"]["owners"][0]["runtime"] == "docker"
    peer = json.loads(vnetctl("inspect", "peer", "eth0", "-n", "docker:web", "--json", check=True).stdout)
    assert peer["peer"]["name"] == host_end
    missing = vnetctl("inspect", "-n", "docker:nosuch")
    assert missing.returncode == 4 and "nosuch" in missing.stderr and "Traceback" not in missing.stderr


def test_names_from_the_api_socket_when_the_files_are_not_readable(docker: Docker) -> None:
    web = start_web(docker)
    inode = netns_inode(web["State"]["Pid"])
    files = docker.data / "containers"
    # config.v2.json hidden: name, compose project and image come from GET /containers/json on dockerd's socket
    assert owners_of(inode, (files,)) == [{"kind": "container", "runtime": "docker", "id": web["Id"], "name": "web",
                                           "pod": "shop", "pod_namespace": None, "image": IMAGE}]
    by_name = json.loads(run_hiding((files,), "inspect", "-n", "docker:web", "--json").stdout)
    assert [ns["inode"] for ns in by_name["namespaces"]] == [inode]
    # the socket hidden too: only what the cgroup says (the id) is left
    assert owners_of(inode, (files, docker.run)) == [{"kind": "container", "runtime": "docker", "id": web["Id"],
                                                      "name": None, "pod": None, "pod_namespace": None, "image": None}]
