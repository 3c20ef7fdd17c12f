"""Holders named by what they run: a real QEMU guest on a tap, OpenVPN (p2p, static key) between two
namespaces, and a tun opened through a device node that is not /dev/net/tun (matched by 10:200)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ip_json, link, sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel
QEMU = "qemu-system-x86_64"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


def tun_fds(pid: int, dev: str) -> list[int]:
    """fds of pid attached to tun/tap `dev`, from /proc/PID/fdinfo (the oracle)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                if any(ln.startswith("iff:") and ln.split(":", 1)[1].strip() == dev for ln in f):
                    found.append(int(fd))
        except OSError:
            continue
    return sorted(found)


def test_qemu_guest_holds_its_tap(procs: list[subprocess.Popen[str]]) -> None:
    if shutil.which(QEMU) is None:
        pytest.skip(f"{QEMU} not installed (make deps: qemu-system-x86)")
    qemu = subprocess.Popen([QEMU, "-nodefaults", "-display", "none", "-S", "-machine", "none", "-name", "guest=web-vm",
                             "-netdev", "tap,id=n0,ifname=qtap0,script=no,downscript=no"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(qemu)
    wait_for(lambda: bool(tun_fds(qemu.pid, "qtap0")), what="qemu to open qtap0", timeout=30)
    fds = tun_fds(qemu.pid, "qtap0")
    got = json.loads(vnetctl("inspect", "holders", "qtap0", "--json", check=True).stdout)
    with open(f"/proc/{qemu.pid}/cmdline") as f:
        argv = f.read().rstrip("\0").split("\0")
    assert [(h["pid"], h["fd"]) for h in got] == [(qemu.pid, fd) for fd in fds]
    assert got[0]["cmdline"] == argv and got[0]["netns_inode"] == os.stat("/proc/self/ns/net").st_ino
    assert got[0]["owner"] == {"kind": "vm", "runtime": "qemu", "id": None, "name": "web-vm", "pod": None,
                               "pod_namespace": None, "image": None}
    line = vnetctl("inspect", "who", "qtap0", check=True).stdout
    assert f"[{qemu.pid}] fd {fds[0]} (vm web-vm (qemu))" in line
    table = vnetctl("inspect", "holders", "qtap0", check=True).stdout
    assert "vm web-vm (qemu)" in table and "NAMESPACE" in table.splitlines()[0]


def test_openvpn_p2p_between_namespaces(procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    if shutil.which("openvpn") is None:
        pytest.skip("openvpn not installed (make deps)")
    key = tmp_path / "static.key"
    sh("openvpn", "--genkey", "secret", str(key))
    sh("ip", "netns", "add", "vpa")
    sh("ip", "netns", "add", "vpb")
    sh("ip", "link", "add", "u0", "netns", "vpa", "type", "veth", "peer", "name", "u1", "netns", "vpb")
    for ns, dev, addr in (("vpa", "u0", "10.9.0.1/24"), ("vpb", "u1", "10.9.0.2/24")):
        sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    ends = {}
    for ns, local, remote, here, there in (("vpa", "10.9.0.1", "10.9.0.2", "10.8.0.1", "10.8.0.2"),
                                           ("vpb", "10.9.0.2", "10.9.0.1", "10.8.0.2", "10.8.0.1")):
        p = subprocess.Popen(["ip", "netns", "exec", ns, "openvpn", "--dev", "tun0", "--dev-type", "tun",
                              "--ifconfig", here, there, "--secret", str(key), "--cipher", "AES-256-CBC",
                              "--local", local, "--remote", remote, "--proto", "udp", "--verb", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(p)
        ends[ns] = p
    wait_for(lambda: link("tun0", "vpa") is not None and link("tun0", "vpb") is not None, what="openvpn's tun0", timeout=30)
    wait_for(lambda: sh("ip", "netns", "exec", "vpa", "ping", "-c1", "-W1", "10.8.0.2", check=False).returncode == 0,
             what="ping across the tunnel", timeout=30)
    oracle = next(a for a in ip_json("addr", "show", "tun0", netns="vpa")[0]["addr_info"] if a["family"] == "inet")
    assert (oracle["local"], oracle["address"]) == ("10.8.0.1", "10.8.0.2")
    tun0 = json.loads(vnetctl("inspect", "-n", "vpa", "--json", check=True).stdout)["namespaces"][0]
    addrs = next(d["addresses"] for d in tun0["devices"] if d["name"] == "tun0")
    assert f"10.8.0.1 peer 10.8.0.2/{oracle['prefixlen']}" in addrs
    got = json.loads(vnetctl("inspect", "holders", "tun0", "-n", "vpa", "--json", check=True).stdout)
    pid = ends["vpa"].pid  # ip netns exec execs openvpn: same pid
    assert [(h["pid"], h["fd"]) for h in got] == [(pid, fd) for fd in tun_fds(pid, "tun0")]
    assert got[0]["owner"]["kind"] == "service" and got[0]["owner"]["name"] == "openvpn tun0"
    everywhere = json.loads(vnetctl("inspect", "holders", "tun0", "--json", check=True).stdout)
    assert sorted((h["netns"], h["pid"]) for h in everywhere) == sorted([("vpa", ends["vpa"].pid), ("vpb", ends["vpb"].pid)])


HOLD = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", sys.argv[2].encode(), 0x0002 | 0x1000))
print(fd, flush=True)
sys.stdin.read()
"""


def test_tun_through_another_device_node_and_a_hidden_holder(procs: list[subprocess.Popen[str]]) -> None:
    node = "/run/vnetctl-tun-node"  # /run is the sandbox's own tmpfs
    subprocess.run(["mknod", node, "c", "10", "200"], check=True)
    try:
        p = subprocess.Popen([sys.executable, "-c", HOLD, node, "tapm0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        procs.append(p)
        assert p.stdout is not None
        fd = int(p.stdout.readline())
        assert os.readlink(f"/proc/{p.pid}/fd/{fd}") == node and tun_fds(p.pid, "tapm0") == [fd]
        got = json.loads(vnetctl("inspect", "holders", "tapm0", "--json", check=True).stdout)
        assert [(h["pid"], h["fd"]) for h in got] == [(p.pid, fd)]
        # Unprivileged, the holder's fds are unreadable: a non-persistent tap held by nobody is a contradiction, said so.
        cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
               sys.executable, "-m", "vnetctl", "inspect"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=dict(os.environ, PYTHONPATH=os.getcwd()))
        assert proc.returncode == 0, proc.stderr
        assert "warning: tun/tap tapm0 in the current namespace is not persistent" in proc.stderr
    finally:
        os.unlink(node)
