"""Concurrency: interrupted netlink dumps are retried, listings stay right while devices churn.

Dump interruption (NLM_F_DUMP_INTR, EINTR) is injected at the exact depth where it happens
(the pyroute2 call behind Netlink, the socket behind rtdump), then provoked for real with a
background process adding and deleting devices while vnetctl lists them.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import textwrap
from typing import Any, Callable

import pytest
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError

from tests.helpers import names, sh, vnetctl, wait_for
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


@pytest.mark.parametrize("failures", [["intr"], ["eintr"], ["flag"], ["flag", "intr", "eintr"]])
def test_link_dump_retried(devices: list[str], failures: list[str]) -> None:
    """Netlink.links() answers right after interrupted dumps, asking again each time."""
    nl = Netlink(None)
    want = len(failures) + 1
    nl.ipr.link, calls = _flaky(nl.ipr.link, list(failures))
    assert sorted(link.name for link in nl.links()) == devices
    assert calls[0] == want
    nl.close()


@pytest.mark.parametrize("method,attr", [("addresses", "addr"), ("routes", "route")])
def test_address_and_route_dumps_retried(devices: list[str], method: str, attr: str) -> None:
    """Address and route dumps are retried the same way."""
    nl = Netlink(None)
    clean = getattr(nl, method)()
    setattr(nl.ipr, attr, _flaky(getattr(nl.ipr, attr), ["flag", "intr"])[0])
    assert getattr(nl, method)() == clean
    assert any("10.77.1.1/24" in str(x) for x in clean) or method == "routes"
    nl.close()


def test_endless_interruption_is_a_clean_error(devices: list[str]) -> None:
    """A dump interrupted every time gives up with a one-line BackendError (exit 1), not a traceback."""
    nl = Netlink(None)
    nl.ipr.link, calls = _flaky(nl.ipr.link, ["flag"] * 50)
    with pytest.raises(BackendError) as e:
        nl.links()
    assert calls[0] == DUMP_RETRIES and e.value.exit_code == 1 and "interrupted" in e.value.message
    nl.close()


class _FlakySocket:
    """A netlink socket whose answers to the first `bad` requests carry NLM_F_DUMP_INTR."""

    def __init__(self, real: socket.socket, bad: int) -> None:
        self.real, self.bad, self.sends = real, bad, 0

    def send(self, data: bytes) -> int:
        self.sends += 1
        return self.real.send(data)

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
        seen_churn = 0
        for _ in range(150):
            got = {link.name for link in nl.links()}
            raw = {link.name for link in rtdump.links(sock)}
            for listing in (got, raw):
                assert stable <= listing, f"missing {sorted(stable - listing)[:5]}"
                assert all(n in stable or n.startswith(("churn", "xchurn")) for n in listing)
            seen_churn += bool(got - stable)
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
