"""tun/tap holders (checked with lsof and /proc fdinfo) and inspect without privilege."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterator

import pytest

from tests.helpers import ip_json, link, sh, vnetctl, wait_for

pytestmark = pytest.mark.kernel

HOLDER = r"""
import fcntl, os, struct, sys
name, queues = sys.argv[1], int(sys.argv[2])
flags = 0x0002 | 0x1000 | (0x0100 if queues > 1 else 0)   # IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE
fds = []
for _ in range(queues):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", name.encode(), flags))   # TUNSETIFF
    fds.append(fd)
print(" ".join(map(str, fds)), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    """Holder processes a test starts; ended (stdin closed, then killed) afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


def hold(started: list[subprocess.Popen[str]], name: str, netns: str | None = None, queues: int = 1) -> tuple[int, list[int]]:
    """Start a process holding tap `name` (created inside netns if missing); its pid and fds."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + [sys.executable, "-c", HOLDER, name, str(queues)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started.append(p)
    assert p.stdout is not None
    fds = [int(x) for x in p.stdout.readline().split()]
    assert fds, "holder did not start"
    return p.pid, fds


def lsof_tun_fds(pid: int) -> set[int]:
    """fds of pid open on /dev/net/tun, according to lsof."""
    out = subprocess.run(["lsof", "-n", "-P", "-p", str(pid), "-F", "fn"], capture_output=True, text=True).stdout
    fds, current = set(), None
    for line in out.splitlines():
        if line.startswith("f"):
            current = line[1:]
        elif line.startswith("n") and line[1:] == "/dev/net/tun" and current and current.isdigit():
            fds.add(int(current))
    return fds


def fdinfo_iff(pid: int, fd: int) -> str:
    """The device named on the `iff:` line of /proc/PID/fdinfo/FD."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("iff:"))


def comm(pid: int) -> str:
    """Command name according to ps."""
    return subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()


def test_tap_held_by_a_process(holders: list[subprocess.Popen[str]]) -> None:
    pid, fds = hold(holders, "tap0")
    assert lsof_tun_fds(pid) == set(fds) and fdinfo_iff(pid, fds[0]) == "tap0"
    got = json.loads(vnetctl("inspect", "holders", "tap0", "--json", check=True).stdout)
    assert [{k: h[k] for k in ("pid", "comm", "fd", "netns")} for h in got] == [{"pid": pid, "comm": comm(pid), "fd": fds[0],
                                                                                "netns": None}]
    with open(f"/proc/{pid}/cmdline") as f:
        assert got[0]["cmdline"] == f.read().rstrip("\0").split("\0")
    assert got[0]["owner"]["kind"] == "process" and got[0]["owner"]["name"] == comm(pid)
    tree = vnetctl("inspect", check=True).stdout
    assert f"held by {comm(pid)}[{pid}] fd {fds[0]}" in tree
    listed = json.loads(vnetctl("tuntap", "list", "--json", check=True).stdout)
    assert [[(h["pid"], h["fd"]) for h in t["holders"]] for t in listed if t["name"] == "tap0"] == [[(pid, fds[0])]]


def test_multi_queue_tap_lists_every_fd(holders: list[subprocess.Popen[str]]) -> None:
    pid, fds = hold(holders, "mq0", queues=3)
    assert lsof_tun_fds(pid) == set(fds)
    got = json.loads(vnetctl("inspect", "holders", "mq0", "--json", check=True).stdout)
    assert [(h["pid"], h["comm"], h["fd"]) for h in got] == [(pid, comm(pid), fd) for fd in sorted(fds)]


def test_same_tap_name_in_three_namespaces(holders: list[subprocess.Popen[str]]) -> None:
    # tapx here (persistent, held by nobody); tapx in 'one' held by a process that lives
    # here (the device was moved after it attached); tapx in 'two' held by a process in 'two'.
    sh("ip", "netns", "add", "one")
    sh("ip", "netns", "add", "two")
    mover, mover_fds = hold(holders, "tapx")
    sh("ip", "link", "set", "tapx", "netns", "one")
    wait_for(lambda: link("tapx", "one") is not None, what="tapx to move into 'one'")
    sh("ip", "tuntap", "add", "mode", "tap", "tapx")
    inside, inside_fds = hold(holders, "tapx", netns="two")
    assert link("tapx") and link("tapx", "one") and link("tapx", "two")
    assert fdinfo_iff(mover, mover_fds[0]) == fdinfo_iff(inside, inside_fds[0]) == "tapx"
    assert os.stat(f"/proc/{mover}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    here = json.loads(vnetctl("inspect", "holders", "tapx", "-n", "/proc/1/ns/net", "--json", check=True).stdout)
    one = json.loads(vnetctl("inspect", "holders", "tapx", "-n", "one", "--json", check=True).stdout)
    two = json.loads(vnetctl("inspect", "holders", "tapx", "-n", "two", "--json", check=True).stdout)
    everywhere = json.loads(vnetctl("inspect", "holders", "tapx", "--json", check=True).stdout)
    assert here == []
    assert [(h["pid"], h["comm"], h["fd"]) for h in one] == [(mover, comm(mover), mover_fds[0])]
    assert [(h["pid"], h["comm"], h["fd"]) for h in two] == [(inside, comm(inside), inside_fds[0])]
    assert sorted((h["netns"], h["pid"]) for h in everywhere) == [("one", mover), ("two", inside)]
    whole = json.loads(vnetctl("inspect", "--json", check=True).stdout)
    held = {(ns["name"], d["name"]): [h["pid"] for h in d["holders"]] for ns in whole["namespaces"] for d in ns["devices"]}
    assert held[(None, "tapx")] == [] and held[("one", "tapx")] == [mover] and held[("two", "tapx")] == [inside]


def test_unprivileged_sees_what_the_kernel_allows(holders: list[subprocess.Popen[str]]) -> None:
    sh("ip", "netns", "add", "priv")
    sh("ip", "link", "add", "u0", "type", "veth", "peer", "name", "u1", "netns", "priv")
    hold(holders, "tapu")
    hidden = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    holders.append(hidden)  # type: ignore[arg-type]
    wait_for(lambda: os.stat(f"/proc/{hidden.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino,
             what="unshare -n")
    sh("ip", "link", "add", "h0", "type", "veth", "peer", "name", "h1", "netns", str(hidden.pid))
    cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
           sys.executable, "-m", "vnetctl", "inspect", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.returncode == 0, proc.stderr
    assert "warning: cannot enter namespace 'priv'" in proc.stderr
    assert "cannot read the open files" in proc.stderr
    data = json.loads(proc.stdout)
    spaces = {ns["name"]: ns for ns in data["namespaces"]}
    assert spaces["priv"]["devices"] == []
    here = next(ns for ns in data["namespaces"] if ns["current"])
    assert sorted(d["name"] for d in here["devices"]) == sorted(d["ifname"] for d in ip_json("link", "show"))
    u0 = next(d for d in here["devices"] if d["name"] == "u0")
    assert u0["peer"]["ifindex"] == link("u0")["link_index"]
    h0 = next(d for d in here["devices"] if d["name"] == "h0")
    assert h0["peer"]["netns_inode"] is None and h0["peer"]["ifindex"] == link("h0")["link_index"]
    assert "the peer of h0 in the current namespace is in a namespace not found" in proc.stderr
    assert data["warnings"] and all(w in proc.stderr for w in data["warnings"])
