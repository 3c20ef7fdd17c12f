"""Every namespace found by every command: held only by a thread, only by a socket, or bind-mounted in another
mount namespace. The oracle is the kernel's own inode of each namespace, read where it is held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import vnetctl

pytestmark = pytest.mark.kernel

HOLDER = r"""
import ctypes, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
out = {}
keep = threading.Event()

def thread_held():
    assert libc.unshare(0x40000000) == 0
    out["thread"] = (threading.get_native_id(), os.stat("/proc/thread-self/ns/net").st_ino)
    keep.wait()

def socket_held():
    assert libc.unshare(0x40000000) == 0
    out["socket_inode"] = os.stat("/proc/thread-self/ns/net").st_ino
    out["sock"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the thread ends: only this socket holds it

t = threading.Thread(target=thread_held, daemon=True); t.start()
s = threading.Thread(target=socket_held); s.start(); s.join()
while "thread" not in out or len(os.listdir("/proc/self/task")) > 2:  # a joined thread is listed a moment longer
    pass
print(json.dumps({"tid": out["thread"][0], "thread": out["thread"][1], "socket": out["socket_inode"],
                  "fd": out["sock"].fileno()}), flush=True)
sys.stdin.read()
""".replace("import ctypes,", "import json, ctypes,")


@pytest.fixture
def holder() -> Iterator[dict[str, int]]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    info = json.loads(p.stdout.readline())
    info["pid"] = p.pid
    yield info
    p.kill()
    p.wait(timeout=10)


@pytest.fixture
def other_mount_ns() -> Iterator[dict[str, int]]:
    script = ("mkdir -p /run/other && mount -t tmpfs other /run/other && touch /run/other/ns && "
              "unshare --net=/run/other/ns true && stat -L -c %i /run/other/ns && exec cat")
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    yield {"pid": p.pid, "inode": int(p.stdout.readline())}
    p.kill()
    p.wait(timeout=10)


def inspected() -> dict[int, dict[str, object]]:
    return {ns["inode"]: ns for ns in json.loads(vnetctl("inspect", "--json", check=True).stdout)["namespaces"]}


def listed() -> dict[int, dict[str, object]]:
    return {ns["inode"]: ns for ns in json.loads(vnetctl("netns", "list", "--all", "--json", check=True).stdout)}


def test_thread_and_socket_held_namespaces(holder: dict[str, int]) -> None:
    pid = holder["pid"]
    assert os.stat(f"/proc/{pid}/task/{holder['tid']}/ns/net").st_ino == holder["thread"]
    seen, all_ = inspected(), listed()
    for inode in (holder["thread"], holder["socket"]):
        assert inode in seen and inode in all_
        assert [d["name"] for d in seen[inode]["devices"]] == ["lo"]  # entered and read, not only named
    assert seen[holder["thread"]]["held"] == f"thread {holder['tid']} of pid {pid}"
    assert seen[holder["socket"]]["held"] == f"socket fd {holder['fd']} of pid {pid}"
    assert all_[holder["socket"]]["held"] == f"socket fd {holder['fd']} of pid {pid}"
    comm = open(f"/proc/{pid}/comm").read().strip()
    for inode in (holder["thread"], holder["socket"]):  # the holding process is the owner
        assert [(o["kind"], o["name"]) for o in seen[inode]["owners"]] == [("process", comm)]
    tree = vnetctl("inspect", check=True).stdout
    assert f"held by socket fd {holder['fd']} of pid {pid}" in tree
    one = json.loads(vnetctl("inspect", "-n", f"/proc/{pid}/task/{holder['tid']}/ns/net", "--json", check=True).stdout)
    assert [ns["inode"] for ns in one["namespaces"]] == [holder["thread"]]


def test_namespace_mounted_in_another_mount_namespace(other_mount_ns: dict[str, int]) -> None:
    pid, inode = other_mount_ns["pid"], other_mount_ns["inode"]
    assert not os.path.exists("/run/other/ns")  # not visible from our mount namespace
    seen, all_ = inspected(), listed()
    assert inode in seen and inode in all_
    assert seen[inode]["held"] == f"mount /run/other/ns in the mount namespace of pid {pid}"
    one = json.loads(vnetctl("inspect", "-n", f"/proc/{pid}/root/run/other/ns", "--json", check=True).stdout)
    assert [ns["inode"] for ns in one["namespaces"]] == [inode]


def test_a_namespace_a_thread_is_in_is_not_empty(holder: dict[str, int]) -> None:
    # cleanup and netns del ask which processes are in a namespace: a thread inside counts
    from vnetctl.backend.procfs import netns_pids

    assert holder["pid"] in netns_pids()[holder["thread"]]
