"""Owner parsing from the runtimes' documented formats (fixtures under tests/fixtures/owners), and the resolver
on real process trees whose supervisors (a containerd shim, CRI-O's conmon) point into those fixtures."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vnetctl.model import Owner, is_owner_form
from vnetctl.owners import Resolver, cgroup, cmdline, cri, describe, docker, lxc, podman
from vnetctl.owners.locate import matches

ROOT = Path(__file__).parent / "fixtures" / "owners"
DOCKER_ID = "3f1c1fb2a8c54a6f0e4f6c4a3d1b2e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
SANDBOX_ID = "9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
CONTAINERD_ID = "d0" * 32
CRIO_ID = "c0ffee" * 10 + "0123"
H = "ab" * 32


@pytest.mark.parametrize("path, runtime, kind, ident", [
    (f"/system.slice/docker-{H}.scope", "docker", "container", H),
    (f"/docker/{H}", "docker", "container", H),
    (f"/machine.slice/libpod-{H}.scope/container", "podman", "container", H),
    (f"/machine.slice/libpod-conmon-{H}.scope", "podman", "conmon", H),
    (f"/machine.slice/machine-libpod_pod_{H}.slice/libpod-{'cd' * 32}.scope", "podman", "container", "cd" * 32),
    (f"/libpod_parent/libpod-{H}", "podman", "container", H),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1c0e.slice/cri-containerd-{H}.scope",
     "containerd", "container", H),
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2a5f.slice/crio-{H}.scope", "cri-o", "container", H),
    (f"/kubepods/besteffort/pod1c0e7b5e/{H}", None, "container", H),
    ("/lxc.payload.web1", "lxc", "container", "web1"),
    ("/lxc/web1", "lxc", "container", "web1"),
    ("/lxc.monitor.web1", "lxc", "monitor", "web1"),
    ("/machine.slice/machine-qemu\\x2d1\\x2dweb\\x2dvm.scope/libvirt/emulator", "qemu", "vm", "web-vm"),
    ("/machine.slice/machine-dev\\x2dbox.scope/payload", "nspawn", "container", "dev-box"),
    ("/system.slice/openvpn-server@srv.service", "systemd", "service", "openvpn-server@srv.service"),
    ("/user.slice/user-1000.slice/session-2.scope", None, "process", None),
])
def test_cgroup_paths(path: str, runtime: str | None, kind: str, ident: str | None) -> None:
    hint = cgroup.parse(path)
    assert (hint.runtime, hint.kind, hint.id) == (runtime, kind, ident)


def test_cgroup_file_prefers_v2_then_systemd() -> None:
    v1 = "12:pids:/\n4:memory:/process_api/x\n1:name=systemd:/system.slice/docker-%s.scope\n0::/\n" % H
    assert cgroup.path_of(v1) == f"/system.slice/docker-{H}.scope"
    assert cgroup.path_of("0::/machine.slice/libpod-%s.scope\n" % H).endswith(".scope")
    assert cgroup.path_of("0::/\n") == "/"


def test_docker_config_v2() -> None:
    data = json.loads((ROOT / "var/lib/docker/containers" / DOCKER_ID / "config.v2.json").read_text())
    assert docker.parse(data) == Owner("container", "docker", DOCKER_ID, "shop-web-1", "shop", None, "nginx:1.25")
    assert docker.running_pid(data) == 955 and docker.sandbox_key(data) == "/var/run/docker/netns/5d1f2b6c7a8e"


def test_dockerd_command_line_and_api_listing() -> None:
    from vnetctl.owners import dockerapi

    argv = ("dockerd", "--data-root", "/srv/docker", "-H", "unix:///run/d.sock", "--host=tcp://0.0.0.0:2375",
            "--host=unix:///run/e.sock")
    assert docker.daemon_places(argv) == ("/srv/docker", ["/run/d.sock", "/run/e.sock"])
    assert docker.daemon_places(("dockerd", "-g=/g")) == ("/g", [])
    entry = {"Id": DOCKER_ID, "Names": ["/shop-web-1"], "Image": "nginx:1.27",
             "Labels": {"com.docker.compose.project": "shop"}}
    assert dockerapi.parse(entry) == Owner("container", "docker", DOCKER_ID, "shop-web-1", "shop", None, "nginx:1.27")
    assert dockerapi.parse({"Names": ["/x"]}) is None
    assert dockerapi.containers("/nonexistent/docker.sock") == {}


def test_containerd_and_crio_annotations() -> None:
    store = cri.Store(str(ROOT))
    assert store.owner(SANDBOX_ID, None) == Owner("pod", "containerd", SANDBOX_ID, "coredns-5d78c9869d-x7k2p",
                                                  "coredns-5d78c9869d-x7k2p", "kube-system", None)
    assert store.owner(CONTAINERD_ID, "containerd") == Owner(
        "container", "containerd", CONTAINERD_ID, "coredns", "coredns-5d78c9869d-x7k2p", "kube-system",
        "registry.k8s.io/coredns/coredns:v1.10.1")
    assert store.owner(CRIO_ID, None) == Owner("pod", "cri-o", CRIO_ID, "etcd-node1", "etcd-node1", "kube-system",
                                               "registry.k8s.io/pause:3.9")
    assert store.owner(CRIO_ID, "containerd") is None and store.owner(H, None) is None
    assert describe(store.owner(SANDBOX_ID, None) or Owner("x")) == "kube-system/coredns-5d78c9869d-x7k2p (pod)"


def test_lxc_config() -> None:
    owner = lxc.owner("web1", str(ROOT))
    assert owner == Owner("container", "lxc", "web1", "web1", None, None, "debian bookworm amd64")
    assert lxc.owner("gone", str(ROOT)) == Owner("container", "lxc", "gone", "gone")


def test_podman_storage_and_bolt_records() -> None:
    storage = json.dumps([{"id": H, "names": ["web"], "image": "", "layer": "x",
                           "metadata": json.dumps({"image-name": "localhost/bb:latest", "name": "web"})}])
    assert podman.parse_storage(storage) == {H: {"name": "web", "image": "localhost/bb:latest"}}
    pod_id, infra = "ef" * 32, "12" * 32
    bolt = (b"\x00\x01junk" + json.dumps({"spec": {"ociVersion": "1.0.2-dev"}, "name": "mypod-infra", "id": infra,
                                          "pod": pod_id, "pause": True}, separators=(",", ":")).encode()
            + b"\x00\x00" + json.dumps({"id": pod_id, "name": "mypod", "hasInfra": True}, separators=(",", ":")).encode())
    configs, pods = podman.scan_bolt(bolt)
    assert pods == {pod_id: "mypod"} and configs[infra]["pod"] == pod_id
    assert podman.owner_of(infra, None, None, configs[infra], pods) == Owner("pod", "podman", pod_id, "mypod", "mypod")
    assert podman.root_of_bundle("/srv/pm/overlay-containers/%s/userdata" % H) == "/srv/pm"


def test_command_lines() -> None:
    qemu = ["/usr/bin/qemu-system-x86_64", "-name", "guest=web-vm,debug-threads=on", "-S"]
    assert cmdline.owner(qemu) == Owner("vm", "qemu", None, "web-vm")
    assert cmdline.qemu_name(["qemu-system-x86_64", "-name", "plain"]) == "plain"
    assert cmdline.owner(["openvpn", "--dev", "tun0", "--secret", "k"]) == Owner("service", None, None, "openvpn tun0")
    assert cmdline.owner(["wireguard-go", "wg0"]) == Owner("service", None, None, "wireguard-go wg0")
    assert cmdline.owner(["sleep", "1"]) is None
    assert cmdline.conmon(["/usr/bin/conmon", "--api-version", "1", "-c", H, "-n", "web", "-b", "/x/userdata"]) == (
        H, "web", "/x/userdata")


def test_owner_forms_of_n() -> None:
    web = Owner("container", "docker", DOCKER_ID, "web")
    assert is_owner_form("docker:web") and is_owner_form("pod:kube-system/coredns") and not is_owner_form("ns1")
    assert not is_owner_form("docker:") and not is_owner_form("pid:12")
    assert matches("docker", "web", web) and matches("container", "web", web) and matches("docker", "3f1c", web)
    assert not matches("podman", "web", web) and not matches("docker", "3f", web)
    pod = Owner("pod", "containerd", SANDBOX_ID, "coredns-x", "coredns-x", "kube-system")
    assert matches("pod", "kube-system/coredns-x", pod) and not matches("pod", "coredns-x", pod)
    assert describe(Owner("vm", "qemu", None, "web-vm")) == "vm web-vm (qemu)"
    assert describe(Owner("container", "podman", H, "web")) == "web (podman)"


@pytest.fixture
def supervised() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


def child_of(argv: list[str], started: list[subprocess.Popen[bytes]]) -> int:
    """Start a real process whose command line is `argv` (a supervisor: sh running a script) and whose child sleeps."""
    script = Path(tempfile.mkdtemp()) / "supervise.sh"
    script.write_text("sleep 60 & wait\n")
    p = subprocess.Popen([argv[0], str(script)] + argv[1:], executable="/bin/sh")
    started.append(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.05)
    raise AssertionError("the supervisor did not start its child")


def test_resolver_follows_supervisors_into_the_stores(supervised: list[subprocess.Popen[bytes]]) -> None:
    shim = child_of(["containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", SANDBOX_ID,
                     "-address", "/run/containerd/containerd.sock"], supervised)
    mon = child_of(["conmon", "--api-version", "1", "-c", CRIO_ID, "-n", "k8s_POD_etcd-node1",
                    "-b", f"/run/containers/storage/overlay-containers/{CRIO_ID}/userdata"], supervised)
    moby = child_of(["containerd-shim-runc-v2", "-namespace", "moby", "-id", DOCKER_ID], supervised)
    r = Resolver(str(ROOT))
    assert describe(r.of_pid(shim)) == "kube-system/coredns-5d78c9869d-x7k2p (pod)"
    assert r.of_pid(mon) == Owner("pod", "cri-o", CRIO_ID, "etcd-node1", "etcd-node1", "kube-system", "registry.k8s.io/pause:3.9")
    assert r.of_pid(moby) == Owner("container", "docker", DOCKER_ID, "shop-web-1", "shop", None, "nginx:1.25")
    assert r.of_pids([shim, moby])[0].kind == "pod"
