"""Existence and namespaces that go away: creating what exists is a conflict that touches
nothing (vnetctl never deletes a device to make room); a namespace is never created by
accident; deleting a namespace waits for the veth peers that die with it, outside it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import link, netns_names, sh, snapshot, vnetctl, wait_for
from vnetctl import api

pytestmark = pytest.mark.kernel


def test_creating_what_exists_is_5_and_the_existing_device_is_untouched() -> None:
    """An unmarked device by the same name: exit 5, same ifindex, same everything."""
    sh("ip", "link", "add", "taken", "type", "bridge")
    sh("ip", "link", "add", "other", "type", "veth", "peer", "name", "opeer")
    before = snapshot(), link("taken"), link("opeer")
    for args in (["veth", "add", "taken", "p0"], ["veth", "add", "p0", "opeer"], ["bridge", "add", "taken"],
                 ["tuntap", "add", "taken", "--mode", "tap"], ["vxlan", "add", "taken", "--vni", "3"]):
        proc = vnetctl(*args)
        assert proc.returncode == 5, (args, proc.stderr)
        assert "exists" in proc.stderr and "Traceback" not in proc.stderr
        assert (snapshot(), link("taken"), link("opeer")) == before


def test_a_missing_namespace_is_never_created() -> None:
    """-n / --peer-netns naming a namespace that does not exist: exit 4 and no /run/netns entry appears."""
    for args in (["link", "show", "-n", "ghost"], ["veth", "add", "a0", "b0", "--peer-netns", "ghost"],
                 ["bridge", "add", "br9", "-n", "ghost"], ["addr", "show", "-n", "ghost"],
                 ["tuntap", "add", "t9", "--mode", "tun", "-n", "ghost"]):
        proc = vnetctl(*args)
        assert proc.returncode == 4, (args, proc.stderr)
        assert "ghost" in proc.stderr and "Traceback" not in proc.stderr
        assert "ghost" not in netns_names() and not os.path.exists("/run/netns/ghost")
    assert snapshot() == (frozenset(), {"": frozenset({"lo"})})


def test_deleting_what_is_gone_is_4() -> None:
    """Deleting a device or namespace that does not exist: exit 4, one line, nothing else."""
    for args in (["veth", "del", "nothere"], ["netns", "del", "nothere"], ["bridge", "del", "nothere"]):
        proc = vnetctl(*args)
        assert proc.returncode == 4 and len(proc.stderr.splitlines()) == 1, (args, proc.stderr)


def test_netns_del_with_a_process_inside_is_refused_naming_it() -> None:
    """A namespace with a process inside would live on invisibly: refused (5) with the pid, unless --force."""
    sh("ip", "netns", "add", "busy")
    sleeper = subprocess.Popen(["ip", "netns", "exec", "busy", "sleep", "60"])
    try:
        wait_for(lambda: os.stat(f"/proc/{sleeper.pid}/ns/net").st_ino == os.stat("/run/netns/busy").st_ino,
                 what="the process inside")
        proc = vnetctl("netns", "del", "busy")
        assert proc.returncode == 5 and str(sleeper.pid) in proc.stderr
        assert "busy" in netns_names()
        assert vnetctl("netns", "del", "busy", "--force").returncode == 0
        assert "busy" not in netns_names() and sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_netns_del_waits_for_the_peers_outside() -> None:
    """The veth ends outside a deleted namespace vanish asynchronously; netns del returns after they did,
    so their names can be reused at once (with `ip netns del` the next `ip link add` mostly fails)."""
    for _ in range(10):
        sh("ip", "netns", "add", "dying")
        sh("ip", "netns", "add", "other")
        sh("ip", "link", "add", "out0", "type", "veth", "peer", "name", "in0", "netns", "dying")
        sh("ip", "-n", "other", "link", "add", "out1", "type", "veth", "peer", "name", "in1", "netns", "dying")
        api.netns_del("dying")
        assert link("out0") is None and link("out1", "other") is None
        api.veth_add("out0", "again0")  # the name is free right away
        sh("ip", "link", "del", "out0")
        sh("ip", "netns", "del", "other")


def test_down_twice_and_up_twice() -> None:
    """Idempotence: lab down of a lab that is not up is 0; up of an identical running lab is a no-op (0)."""
    star = os.path.join(os.path.dirname(__file__), "..", "labs", "star.yaml")
    assert vnetctl("lab", "down", "star").returncode == 0
    vnetctl("lab", "up", star, "--set", "hosts=3", check=True)
    before = snapshot()
    again = vnetctl("lab", "up", star, "--set", "hosts=3")
    assert again.returncode == 0 and "nothing changed" in again.stderr
    assert snapshot() == before
    other = vnetctl("lab", "up", star, "--set", "hosts=4")
    assert other.returncode == 5 and snapshot() == before
    vnetctl("lab", "down", "star", check=True)
    assert vnetctl("lab", "down", "star").returncode == 0


def test_a_namespace_path_must_be_a_network_namespace() -> None:
    """-n PATH: a mount namespace, a plain file or a missing path is refused cleanly, never entered."""
    for path, code, words in (("/proc/self/ns/mnt", 2, "not a network namespace file"),
                              ("/proc/1/ns/pid", 2, "not a network namespace file"),
                              ("/etc/passwd", 2, "not a network namespace file"),
                              ("/nonexistent/ns", 4, "not found")):
        proc = vnetctl("link", "show", "-n", path)
        assert proc.returncode == code and words in proc.stderr, (path, proc.stderr)
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert vnetctl("link", "show", "-n", "/proc/1/ns/net").returncode == 0


def test_a_lab_never_takes_over_another_labs_objects(tmp_path: "os.PathLike[str]") -> None:
    """A second lab that declares a namespace the first one made: 5, rolled back, the first lab untouched."""
    first = os.path.join(os.path.dirname(__file__), "..", "labs", "veth-netns.yaml")
    vnetctl("lab", "up", first, check=True)
    before = snapshot()
    second = os.path.join(str(tmp_path), "second.yaml")
    with open(second, "w") as f:
        f.write("name: second\nnamespaces:\n  - name: other\n  - name: ns2\nbridges:\n  - name: br-second\n")
    proc = vnetctl("lab", "up", second)
    assert proc.returncode == 5 and "ns2" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert snapshot() == before
    assert vnetctl("lab", "check", first).returncode == 0
    vnetctl("lab", "down", "veth-netns", check=True)
