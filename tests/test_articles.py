"""The articles' lab steps, reproduced with vnetctl commands and checked with ip, ethtool, ping, tcpdump."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import ethtool_info, ip_json, link, netns_names, ping, vnetctl, wait_for

pytestmark = pytest.mark.kernel


def test_veth_between_two_namespaces_pings_and_tcpdump_sees_arp_then_icmp() -> None:
    vnetctl("netns", "add", "ns1", check=True)
    vnetctl("netns", "add", "ns2", check=True)
    vnetctl("veth", "add", "vethDemo0", "vethDemo1", "--netns", "ns1", "--peer-netns", "ns2",
            "--addr", "10.1.1.2/24", "--peer-addr", "10.1.1.3/24", check=True)
    assert netns_names() >= {"ns1", "ns2"}
    a, b = link("vethDemo0", "ns1"), link("vethDemo1", "ns2")
    assert a and b and a["linkinfo"]["info_kind"] == "veth" == b["linkinfo"]["info_kind"]
    assert a["link_index"] == b["ifindex"] and b["link_index"] == a["ifindex"]
    assert "UP" in a["flags"] and "UP" in b["flags"]
    assert [x["local"] for x in ip_json("addr", "show", "vethDemo0", netns="ns1")[0]["addr_info"]
            if x["family"] == "inet"] == ["10.1.1.2"]

    cap = subprocess.Popen(["ip", "netns", "exec", "ns2", "tcpdump", "-l", "-n", "-i", "vethDemo1", "-c", "4",
                            "arp or icmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # tcpdump says "listening on" once its capture is open: only then send traffic.
        assert cap.stderr is not None
        wait_for(lambda: "listening on" in cap.stderr.readline(), what="tcpdump to start")
        assert ping("10.1.1.3", netns="ns1", count=2)
        out, _ = cap.communicate(timeout=10)
    finally:
        cap.kill()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    kinds = ["ARP, Request" in ln and "ARP-req" or "ARP, Reply" in ln and "ARP-rep" or
             "ICMP echo request" in ln and "echo" or "ICMP echo reply" in ln and "reply" or "?" for ln in lines]
    assert kinds[:4] == ["ARP-req", "ARP-rep", "echo", "reply"], out


def test_tun2_created_up_addressed_and_deleted() -> None:
    vnetctl("tuntap", "add", "tun2", "--mode", "tun", check=True)
    dev = link("tun2")
    assert dev and dev["linkinfo"]["info_kind"] == "tun"
    assert dev["linkinfo"]["info_data"]["type"] == "tun" and dev["linkinfo"]["info_data"]["persist"] is True
    info = ethtool_info("tun2")
    assert info["driver"] == "tun" and info["bus-info"] == "tun"
    vnetctl("link", "set", "tun2", "--up", check=True)
    vnetctl("addr", "add", "172.16.1.2/24", "tun2", check=True)
    addrs = ip_json("addr", "show", "tun2")[0]["addr_info"]
    assert {(a["local"], a["prefixlen"]) for a in addrs if a["family"] == "inet"} == {("172.16.1.2", 24)}
    vnetctl("tuntap", "del", "tun2", check=True)
    assert link("tun2") is None
