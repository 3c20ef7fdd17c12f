"""vnetctl trace over IPv6 (labs/trace-routed6.yaml): ICMPv6 probes, NDP neighbours, forwarding, Packet Too Big."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import sh, wait_for
from tests.test_trace import lab_up, trace

pytestmark = pytest.mark.kernel

LAB = "labs/trace-routed6.yaml"
HB = "fd00:2::2"


def _settled() -> bool:
    """No address still tentative: even without DAD, addrconf marks it usable from a work queue, a moment after link up."""
    return all("tentative" not in sh("ip", "-n", ns, "-6", "addr", "show").stdout for ns in ("ha", "rt", "hb"))


@pytest.fixture
def lab():
    """The IPv6 routed lab, its addresses usable."""
    for _ in lab_up(LAB):
        wait_for(_settled, what="IPv6 addresses no longer tentative")
        yield


def test_healthy_ipv6_path_reaches_and_tcpdump_agrees(lab):
    assert sh("ping", "-c", "1", "-W", "2", HB, netns="ha", check=False).returncode == 0
    dump = subprocess.Popen(["ip", "netns", "exec", "hb", "tcpdump", "--immediate-mode", "-p", "-n", "-l", "-i", "eth0", "icmp6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert dump.stderr is not None and any("listening on" in dump.stderr.readline() for _ in range(2))
    code, r = trace("-n", "ha", HB)
    dump.terminate()
    out, _ = dump.communicate(timeout=10)
    assert code == 0 and r["replied"] and r["verdict"] is None and all(h["seen"] for h in r["hops"]), r
    assert r["src"]["address"] == "fd00:1::2" and r["dst"]["address"] == HB
    fwd = [(h["netns"], h["device"]) for h in r["hops"] if h["leg"] == "forward"]
    assert fwd == [("ha", "eth0"), ("sw", "ha-p"), ("sw", "rt1-p"), ("rt", "eth1"), ("rt", "eth2"), ("sw", "rt2-p"),
                   ("sw", "hb-p"), ("hb", "eth0")], fwd
    tag = f"id {r['probe']['icmp_id']}, seq {r['probe']['icmp_seq']}"
    lines = out.splitlines()
    assert any("echo request" in ln and tag in ln for ln in lines) and any("echo reply" in ln and tag in ln for ln in lines), out


def test_ns_dev_destination_without_ipv4_is_its_ipv6_address(lab):
    code, r = trace("-n", "ha", "hb:eth0", "--proto", "udp:9")
    assert r["dst"]["address"] == HB and (r["verdict"]["netns"], r["verdict"]["reason"]) == ("hb", "no-listener"), r


FAULTS = [
    ("no-route", [["ip", "-n", "rt", "-6", "route", "del", "fd00:2::/64", "dev", "eth2"]], [], ("rt", "eth1", "no-route")),
    ("unreachable", [["ip", "-n", "rt", "-6", "route", "add", "unreachable", f"{HB}/128"]], [],
     ("rt", "eth1", "unreachable-route")),
    # nobody on br1's segment holds the gateway: NDP fails at ha's eth0, the segment it stops on is br1's
    ("neighbour", [["ip", "-n", "ha", "-6", "route", "replace", "default", "via", "fd00:1::99"]], [],
     [("ha", "eth0", "neighbour-failed"), ("sw", "br1", "neighbour-failed")]),
    ("forwarding", [["ip", "netns", "exec", "rt", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]], [],
     ("rt", "eth1", "forwarding-off")),
    ("link-down", [["ip", "-n", "sw", "link", "set", "rt2-p", "down"]], [], ("rt", "eth2", "link-down")),
    # IPv6 routers never fragment: no --df needed for Packet Too Big
    ("mtu", [["ip", "-n", "rt", "link", "set", "eth2", "mtu", "1280"]], ["--size", "1400"], ("rt", "eth2", "mtu")),
    ("udp-no-listener", [], ["--proto", "udp:9999"], ("hb", "eth0", "no-listener")),
    ("tcp-no-listener", [], ["--proto", "tcp:9999"], ("hb", "eth0", "no-listener")),
]


@pytest.mark.parametrize("name,inject,extra,expect", FAULTS, ids=[f[0] for f in FAULTS])
def test_ipv6_fault_matrix(lab, name, inject, extra, expect):
    for argv in inject:
        subprocess.run(argv, check=True, capture_output=True)
    code, r = trace("-n", "ha", HB, "--timeout", "1", *extra)
    v = r["verdict"]
    assert code == 1 and not r["replied"], r
    assert (v["netns"], v["device"], v["reason"]) in (expect if isinstance(expect, list) else [expect]), v
    if name == "mtu":
        assert "at most 1280 bytes fit" in v["detail"] and r["answer"].startswith("ICMPv6 type 2"), (v, r["answer"])
    if name == "forwarding":
        assert "net.ipv6.conf.all.forwarding is 0" in v["detail"], v


def test_ipv6_kernel_drop_reason(lab):
    # (not forwarding off: rt's neighbour advertisements then stop saying "router", and ha may hold the probe for seconds)
    sh("ip", "-n", "rt", "-6", "route", "del", "fd00:2::/64", "dev", "eth2")
    _, r = trace("-n", "ha", HB, "--timeout", "1")
    assert (r["verdict"]["kernel_drop_reason"] or "").startswith("IP_INNOROUTES (ip6_pkt_discard"), r
