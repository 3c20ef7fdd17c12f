"""vnetctl monitor and inspect --watch: events from every namespace, new ones included, as JSON lines."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import VNETCTL, ip_json, sh

pytestmark = pytest.mark.kernel


class Lines:
    """A running vnetctl whose stdout lines are read in the background (bounded waits, never sleeps)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(VNETCTL + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, COLUMNS="200"))
        self.q: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.q), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True).start()
        try:  # every namespace there now is watched: what happens next is reported
            ready = self.err.get(timeout=30)
        except queue.Empty:
            raise AssertionError(f"vnetctl {' '.join(args)} did not start") from None
        assert ready.startswith("watching "), ready

    @staticmethod
    def _pump(stream: Any, q: queue.Queue[str]) -> None:
        for line in stream:
            q.put(line.rstrip("\n"))

    def until(self, pred: Any, what: str, timeout: float = 20) -> list[str]:
        seen: list[str] = []
        while True:
            try:
                line = self.q.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {what} within {timeout} s; saw {seen}") from None
            seen.append(line)
            if pred(line):
                return seen

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=20)


@pytest.fixture
def monitor() -> Iterator[Lines]:
    m = Lines("monitor", "--json")
    yield m
    if m.proc.poll() is None:
        m.stop()


def event(line: str) -> dict[str, Any]:
    return json.loads(line)


def test_monitor_reports_every_namespace_and_new_ones(monitor: Lines) -> None:
    sh("ip", "netns", "add", "early")
    got = [event(ln) for ln in monitor.until(lambda ln: event(ln)["event"] == "netns-add", "netns-add of early")]
    added = got[-1]
    assert added["netns"] == "early" and added["netns_inode"] == os.stat("/run/netns/early").st_ino
    sh("ip", "link", "add", "m0", "type", "veth", "peer", "name", "m1", "netns", "early")
    sh("ip", "addr", "add", "10.7.0.1/24", "dev", "m0")
    lines = monitor.until(lambda ln: event(ln)["event"] == "addr-add", "addr-add on m0")
    evs = [event(ln) for ln in lines]
    m0 = ip_json("link", "show", "m0")[0]
    assert {"event": "link-add", "device": "m0", "ifindex": m0["ifindex"], "netns": None}.items() <= \
        next(e for e in evs if e["event"] == "link-add" and e["device"] == "m0").items()
    m1 = next(e for e in evs if e["device"] == "m1")
    assert m1["event"] == "link-add" and m1["netns"] == "early" and m1["ifindex"] == ip_json("link", "show", "m1", netns="early")[0]["ifindex"]
    assert evs[-1]["address"] == "10.7.0.1/24" and evs[-1]["device"] == "m0"
    sh("ip", "link", "set", "m0", "up")
    change = event(monitor.until(lambda ln: event(ln)["event"] == "link-change", "link-change")[-1])
    assert change["device"] == "m0" and change["state"] in ("UP", "LOWERLAYERDOWN", "DOWN")
    held = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    try:
        late = event(monitor.until(lambda ln: event(ln)["event"] == "netns-add", "netns-add of an unnamed namespace")[-1])
        assert late["netns_inode"] == os.stat(f"/proc/{held.pid}/ns/net").st_ino
        assert late["owner"]["kind"] == "process" and late["owner"]["name"] == "sleep"
    finally:
        held.kill()
        held.wait()
    gone = event(monitor.until(lambda ln: event(ln)["event"] == "netns-del", "netns-del")[-1])
    assert gone["netns_inode"] == late["netns_inode"]
    sh("ip", "link", "del", "m0")
    dels = [event(ln) for ln in monitor.until(lambda ln: event(ln)["event"] == "link-del" and "m1" in ln, "link-del of m1")]
    assert any(e["event"] == "link-del" and e["device"] == "m0" for e in dels)
    assert monitor.stop() == 0


def test_inspect_watch_redraws() -> None:
    watch = Lines("inspect", "--watch")
    try:
        watch.until(lambda ln: ln.startswith("(host)"), "the first tree")
        sh("ip", "netns", "add", "w1")
        watch.until(lambda ln: ln.startswith("w1  inode"), "w1 in a redrawn tree")
    finally:
        assert watch.stop() == 0
    assert not any("Traceback" in ln for ln in list(watch.err.queue))


def test_monitor_text_lines() -> None:
    m = Lines("monitor")
    try:
        sh("ip", "netns", "add", "txt")
        line = m.until(lambda ln: "netns-add" in ln, "a netns-add line")[-1]
        assert line.split("  ")[1] == "netns-add" and line.endswith("in txt")
    finally:
        assert m.stop() == 0




def test_monitor_notices_namespaces_held_only_by_a_socket_or_a_thread(monitor: Lines) -> None:
    from tests.test_discovery_every_namespace import HOLDER

    p = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        info = json.loads(p.stdout.readline())
        # the oracle, from the holder's /proc: the socket is its fd; neither namespace is any of its threads' but one
        assert os.readlink(f"/proc/{p.pid}/fd/{info['fd']}").startswith("socket:[")
        task = f"/proc/{p.pid}/task"
        threads = {int(t): os.stat(f"{task}/{t}/ns/net").st_ino for t in os.listdir(task)}
        assert info["socket"] not in threads.values()
        assert threads[info["tid"]] == info["thread"]
        assert sum(1 for ino in threads.values() if ino == info["thread"]) == 1
        wanted = {info["socket"], info["thread"]}
        added: dict[int, dict[str, Any]] = {}

        def both(line: str) -> bool:
            e = event(line)
            if e["event"] == "netns-add" and e["netns_inode"] in wanted:
                added[e["netns_inode"]] = e
            return set(added) == wanted

        monitor.until(both, "netns-add of the socket-held and the thread-held namespaces")
        assert added[info["socket"]]["devices"] == ["lo"] and added[info["thread"]]["devices"] == ["lo"]
        assert added[info["thread"]]["netns"] == f"/proc/{p.pid}/task/{info['tid']}/ns/net"
        comm = open(f"/proc/{p.pid}/comm").read().strip()
        assert all(e["owner"]["kind"] == "process" and e["owner"]["name"] == comm for e in added.values())
    finally:
        p.kill()
        p.wait(timeout=10)
    gone = set()
    monitor.until(lambda ln: event(ln)["event"] == "netns-del" and (gone.add(event(ln)["netns_inode"]) or gone >= wanted),
                  "netns-del of both")


def test_two_monitors_do_not_keep_namespaces_alive_for_each_other(monitor: Lines) -> None:
    other = Lines("monitor", "--json")
    held = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    try:
        inode = None
        for m in (monitor, other):
            added = event(m.until(lambda ln: event(ln)["event"] == "netns-add", "netns-add of the new namespace")[-1])
            inode = added["netns_inode"]
        # the oracle: the kernel's inode of the sleeper's namespace; each monitor now has a socket in it
        assert inode == os.stat(f"/proc/{held.pid}/ns/net").st_ino
        held.kill()
        held.wait()
        for m in (monitor, other):
            gone = m.until(lambda ln: event(ln)["event"] == "netns-del", "netns-del once the sleeper is gone")[-1]
            assert event(gone)["netns_inode"] == inode
    finally:
        if held.poll() is None:
            held.kill()
            held.wait()
        assert other.stop() == 0


def test_monitor_notices_namespaces_mounted_in_another_mount_namespace(monitor: Lines) -> None:
    script = ("mkdir -p /run/other && mount -t tmpfs other /run/other && touch /run/other/ns && "
              "unshare --net=/run/other/ns true && stat -L -c %i /run/other/ns && exec cat")
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        first = int(p.stdout.readline())  # the oracle: the inode as stat sees it inside that mount namespace
        added = event(monitor.until(lambda ln: event(ln)["event"] == "netns-add", "netns-add of the first mount")[-1])
        assert added["netns_inode"] == first and added["netns"] == f"/proc/{p.pid}/root/run/other/ns"
        # a second mount in the same (already read) mount table: noticed through the table's change, not a full re-read
        second = int(sh("nsenter", "-t", str(p.pid), "-m", "sh", "-c",
                        "touch /run/other/ns2 && unshare --net=/run/other/ns2 true && stat -L -c %i /run/other/ns2").stdout)
        added = event(monitor.until(lambda ln: event(ln)["event"] == "netns-add", "netns-add of the second mount")[-1])
        assert added["netns_inode"] == second and added["netns"] == f"/proc/{p.pid}/root/run/other/ns2"
    finally:
        p.kill()
        p.wait(timeout=10)
    gone: set[int] = set()
    # with its last process the mount namespace goes, and the namespaces mounted only there (nothing of ours holds them)
    monitor.until(lambda ln: event(ln)["event"] == "netns-del" and (gone.add(event(ln)["netns_inode"]) or gone >= {first, second}),
                  "netns-del of both")
