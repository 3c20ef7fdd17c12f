"""Concurrency: interrupted netlink dumps are retried, listings stay right while devices churn.

Dump interruption (NLM_F_DUMP_INTR, EINTR) is injected at the exact depth where it happens
(the raw socket behind Netlink and rtdump, the pyroute2 call behind route dumps), then provoked for real with a
background process adding and deleting devices while vnetctl lists them.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError

from tests.helpers import VNETCTL, ip_json, names, netns_names, sh, snapshot, vnetctl, wait_for
from vnetctl.backend import rtdump
from vnetctl.backend.netlink import DUMP_RETRIES, NLM_F_DUMP_INTR, Netlink, netlink_socket
from vnetctl.backend.netns import resolve
from vnetctl.errors import BackendError

pytestmark = pytest.mark.kernel


def _flaky(real: Callable[..., Any], failures: list[Any]) -> tuple[Callable[..., Any], list[int]]:
    """Wrap a pyroute2 call: the first calls fail as listed ('intr', 'eintr', 'flag'), then it works."""
    calls = [0]

    def call(*a: Any, **k: Any) -> Any:
        calls[0] += 1
        mode = failures.pop(0) if failures else None
        if mode == "intr":
            raise NetlinkDumpInterrupted()
        if mode == "eintr":
            raise NetlinkError(errno.EINTR, "Interrupted system call")
        msgs = list(real(*a, **k))
        if mode == "flag":
            for m in msgs:
                m["header"]["flags"] |= NLM_F_DUMP_INTR
        return msgs
    return call, calls


@pytest.fixture
def devices() -> list[str]:
    """A few devices and addresses to list."""
    for i in range(3):
        sh("ip", "link", "add", f"cc{i}", "type", "veth", "peer", "name", f"cp{i}")
        sh("ip", "addr", "add", f"10.77.{i}.1/24", "dev", f"cc{i}")
        sh("ip", "link", "set", f"cc{i}", "up")
    return sorted(names())


@pytest.mark.parametrize("method,bad", [("links", 1), ("links", 3), ("addresses", 2)])
def test_link_and_address_dumps_retried(devices: list[str], method: str, bad: int) -> None:
    """Netlink.links()/addresses() (the raw reader) answer right after interrupted dumps, asking again each time."""
    nl = Netlink(None)
    clean = getattr(nl, method)()
    flaky = nl._sock = _FlakySocket(netlink_socket(None), bad)  # type: ignore[assignment]
    assert getattr(nl, method)() == clean
    assert flaky.sends == bad + 1
    assert method == "links" and sorted(lk.name for lk in clean) == devices or any(a.cidr == "10.77.1.1/24" for a in clean)
    nl.close()


@pytest.mark.parametrize("failures", [["intr"], ["eintr"], ["flag"], ["flag", "intr", "eintr"]])
def test_route_dump_retried(devices: list[str], failures: list[str]) -> None:
    """Route dumps (through pyroute2) are retried by the same policy."""
    nl = Netlink(None)
    clean = nl.routes()
    nl.ipr.route, calls = _flaky(nl.ipr.route, list(failures))
    assert nl.routes() == clean
    assert calls[0] == len(failures) + 1
    nl.close()


def test_endless_interruption_is_a_clean_error(devices: list[str]) -> None:
    """A dump interrupted every time gives up with a one-line BackendError (exit 1), not a traceback."""
    nl = Netlink(None)
    flaky = nl._sock = _FlakySocket(netlink_socket(None), 99)  # type: ignore[assignment]
    with pytest.raises(BackendError) as e:
        nl.links()
    assert flaky.sends == DUMP_RETRIES and e.value.exit_code == 1 and "interrupted" in e.value.message
    flaky.close()
    nl._sock = None
    nl.ipr.route, calls = _flaky(nl.ipr.route, ["flag"] * 50)
    with pytest.raises(BackendError) as e:
        nl.routes()
    assert calls[0] == DUMP_RETRIES and e.value.exit_code == 1 and "interrupted" in e.value.message
    nl.close()


class _FlakySocket:
    """A netlink socket whose answers to the first `bad` requests carry NLM_F_DUMP_INTR."""

    def __init__(self, real: socket.socket, bad: int) -> None:
        self.real, self.bad, self.sends = real, bad, 0

    def send(self, data: bytes) -> int:
        self.sends += 1
        return self.real.send(data)

    def close(self) -> None:
        self.real.close()

    def recv_into(self, buf: bytearray) -> int:
        n = self.real.recv_into(buf)
        if self.sends <= self.bad:
            off = 0
            while off + 16 <= n:
                ln = int.from_bytes(buf[off:off + 4], sys.byteorder)
                flags = int.from_bytes(buf[off + 6:off + 8], sys.byteorder) | NLM_F_DUMP_INTR
                buf[off + 6:off + 8] = flags.to_bytes(2, sys.byteorder)
                off += max((ln + 3) & ~3, 16)
        return n


@pytest.mark.parametrize("reader", ["links", "addresses"])
def test_raw_dump_retried(devices: list[str], reader: str) -> None:
    """inspect's raw reader (rtdump) asks again when the kernel flags a dump inconsistent."""
    real = netlink_socket(None)
    clean = getattr(rtdump, reader)(real)
    flaky = _FlakySocket(real, bad=2)
    assert getattr(rtdump, reader)(flaky) == clean
    assert flaky.sends == 3
    forever = _FlakySocket(real, bad=99)
    with pytest.raises(OSError) as e:
        getattr(rtdump, reader)(forever)
    assert e.value.errno == errno.EINTR
    real.close()


CHURN = textwrap.dedent("""
    import sys
    from pyroute2 import IPRoute
    from vnetctl.backend.netlink import netlink_socket
    from vnetctl.backend.netns import resolve
    ipr = IPRoute(use_socket=netlink_socket(resolve(sys.argv[1])))
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        name = f"churn{i % 40}"
        try:
            ipr.link("add", ifname=name, kind="veth", peer={"ifname": "x" + name})
        except Exception:
            pass
        try:
            ipr.link("del", ifname="churn" + str((i + 20) % 40))
        except Exception:
            pass
""")


def test_listings_stay_right_while_devices_churn() -> None:
    """While another process adds and deletes veths, every listing still holds every stable device.

    A link dump that races a deletion can skip a device that never changed; the kernel flags
    such a dump and vnetctl asks again, so the stable set must be complete every single time.
    """
    sh("ip", "netns", "add", "busy")
    batch = "".join(f"link add st{i} type veth peer name sp{i}\n" for i in range(60))
    subprocess.run(["ip", "-n", "busy", "-batch", "-"], input=batch, text=True, check=True)
    stable = {f"st{i}" for i in range(60)} | {f"sp{i}" for i in range(60)} | {"lo"}
    churn = subprocess.Popen([sys.executable, "-c", CHURN, "busy"], stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout is not None and churn.stdout.readline().strip() == "ready"
        nl = Netlink(resolve("busy"))
        sock = netlink_socket(resolve("busy"))
        seen_churn = answered = 0
        for _ in range(150):
            listings = []
            try:
                listings.append({link.name for link in nl.links()})
            except BackendError as e:  # churn won every retry: a clean error, never a wrong list
                assert e.errno == errno.EINTR and "interrupted" in e.message
            try:
                listings.append({link.name for link in rtdump.links(sock)})
            except InterruptedError:
                pass
            for listing in listings:
                assert stable <= listing, f"missing {sorted(stable - listing)[:5]}"
                assert all(n in stable or n.startswith(("churn", "xchurn")) for n in listing)
                seen_churn += bool(listing - stable)
                answered += 1
        assert answered >= 20, f"only {answered} of 300 listings got through the churn"
        assert seen_churn, "the churn never showed: the test did not race anything"
        proc = vnetctl("link", "show", "-n", "busy", "--json")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr
        nl.close()
        sock.close()
    finally:
        churn.kill()
        churn.wait()


def test_cli_lists_while_devices_churn() -> None:
    """The CLI's list commands exit 0 with a complete answer while another process churns devices."""
    for i in range(30):
        sh("ip", "link", "add", f"st{i}", "type", "veth", "peer", "name", f"sp{i}")
    churn = subprocess.Popen([sys.executable, "-c", CHURN.replace("resolve(sys.argv[1])", "None"), "-"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout is not None and churn.stdout.readline().strip() == "ready"
        wait_for(lambda: any(n.startswith("churn") for n in names()), what="churn to start")
        for args in (["link", "show", "--json"], ["addr", "show", "--json"], ["netns", "list", "--json"]):
            for _ in range(5):
                proc = vnetctl(*args)
                assert proc.returncode == 0, proc.stderr
                assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
                if args[0] != "netns":
                    assert all(f'"st{i}"' in proc.stdout for i in range(30))
    finally:
        churn.kill()
        churn.wait()


# --- labs and inspect racing each other (real processes) ----------------------------------

STAR = str(Path(__file__).resolve().parent.parent / "labs" / "star.yaml")


def _lab_up(hosts: int) -> subprocess.Popen[str]:
    return subprocess.Popen(VNETCTL + ["lab", "up", STAR, "--set", f"hosts={hosts}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _star_complete(hosts: int) -> bool:
    """The whole star lab is there, according to ip: every namespace with its addressed eth0, every port."""
    if {f"h{i}" for i in range(hosts)} - netns_names():
        return False
    ports = {d["ifname"] for d in ip_json("link", "show", "master", "br-star")}
    return ports == {f"vs{i}" for i in range(hosts)}


def test_two_ups_of_one_lab() -> None:
    """Two `lab up` at once: one brings it up, the other waits its turn (0, identical) or gets 75 naming the pid."""
    before = snapshot()
    first, second = _lab_up(60), _lab_up(60)
    out = [p.communicate(timeout=120) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    for _, err in out:
        assert "Traceback" not in err, err
    assert codes in ([0, 0], [0, 75]), (codes, out)
    if 75 in codes:
        err = out[[first.returncode, second.returncode].index(75)][1]
        assert "locked by another vnetctl (pid" in err
    assert _star_complete(60)
    assert vnetctl("lab", "check", STAR, "--set", "hosts=60").returncode == 0
    vnetctl("lab", "down", "star", check=True)
    assert snapshot() == before


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5])
def test_up_racing_down(delay: float) -> None:
    """`lab down` while `lab up` runs: 75 or done; afterwards the lab is either wholly up or wholly gone."""
    before = snapshot()
    up = _lab_up(80)
    wait_for(lambda: os.path.exists("/run/vnetctl/labs/star") or up.poll() is not None, what="up to start")
    time.sleep(delay)
    down = vnetctl("lab", "down", "star")
    _, up_err = up.communicate(timeout=120)
    assert "Traceback" not in up_err + down.stderr
    assert up.returncode == 0, up_err
    assert down.returncode in (0, 75), down.stderr
    if down.returncode == 75:
        assert "locked by another vnetctl (pid" in down.stderr
    listed = json.loads(vnetctl("lab", "list", "--json", check=True).stdout)
    if listed:
        assert listed[0]["status"] == "up" and _star_complete(80)
    else:
        assert snapshot() == before
    vnetctl("lab", "down", "star", check=True)
    assert snapshot() == before


def test_cleanup_does_not_tear_a_lab_out_from_under_its_up() -> None:
    """`vnetctl cleanup` during `lab up`: cleanup waits its turn or says 75; the up is never half-destroyed."""
    before = snapshot()
    up = _lab_up(80)
    wait_for(lambda: os.path.exists("/run/vnetctl/labs/star/journal.jsonl") or up.poll() is not None,
             what="up to start")
    clean = vnetctl("cleanup")
    _, up_err = up.communicate(timeout=120)
    assert "Traceback" not in up_err + clean.stderr
    assert clean.returncode in (0, 75), clean.stderr
    assert up.returncode == 0, up_err
    if clean.returncode == 75:
        assert _star_complete(80)
    vnetctl("cleanup", check=True)
    assert snapshot() == before


def _check_view(view: dict[str, Any]) -> None:
    """Every veth peer inspect reports is the one the star lab pairs it with."""
    for ns in view["namespaces"]:
        for dev in ns["devices"]:
            peer = dev.get("peer")
            if dev["kind"] != "veth" or not peer or peer["name"] is None:
                continue  # a peer that vanished mid-scan may be unknown, never another device
            known_ns = peer["netns_inode"] is not None
            if dev["name"].startswith("vs") and ns["current"]:
                assert peer["name"] == "eth0", (dev["name"], peer)
                assert not known_ns or peer["netns"] == "h" + dev["name"][2:], (dev["name"], peer)
            elif dev["name"] == "eth0" and (ns["name"] or "").startswith("h"):
                assert peer["name"] == "vs" + ns["name"][1:], (ns["name"], peer)
                assert not known_ns or peer["netns_current"], (ns["name"], peer)


def test_inspect_while_labs_churn() -> None:
    """inspect, again and again while a lab goes up and down: exit 0, valid JSON, never a wrong peer."""
    churn = subprocess.Popen(["sh", "-c", f"""
        for i in 1 2 3 4 5 6; do
            {' '.join(VNETCTL)} lab up {STAR} --set hosts=30 >/dev/null 2>&1
            {' '.join(VNETCTL)} lab down star >/dev/null 2>&1
        done"""])
    try:
        runs = 0
        while churn.poll() is None or runs < 3:
            proc = vnetctl("inspect", "--json")
            assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
            _check_view(json.loads(proc.stdout))
            runs += 1
        assert runs >= 3
    finally:
        churn.wait(timeout=300)
    assert vnetctl("lab", "down", "star").returncode == 0
