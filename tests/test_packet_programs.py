"""Pure logic of the programs: the guest's answers to frames, the tunnel's endpoints and subnet routes."""

from __future__ import annotations

import pytest

from vnetctl.errors import UsageError
from vnetctl.userspace import guest as G
from vnetctl.userspace import packet as P
from vnetctl.userspace import tunnel_routes as T

MAC = "52:54:00:12:34:56"
PEER = "02:00:00:00:00:01"


def _arp_request(tpa: str) -> bytes:
    return P.build_eth(P.BROADCAST_MAC, PEER, P.ETH_P_ARP,
                       P.build_arp(P.ARP_REQUEST, PEER, "10.0.0.1", "00:00:00:00:00:00", tpa))


def _echo(dst_mac: str, dst_ip: str, seq: int = 1, corrupt: bool = False) -> bytes:
    pkt = bytearray(P.build_ipv4("10.0.0.1", dst_ip, P.PROTO_ICMP,
                                 P.build_icmp(P.ICMP_ECHO_REQUEST, 0, 77, seq, b"payload!")))
    if corrupt:
        pkt[8] ^= 0xFF  # TTL changed, header checksum now wrong
    return P.build_eth(dst_mac, PEER, P.ETH_P_IP, bytes(pkt))


def test_guest_answers_arp_for_its_address_only() -> None:
    g, st = G.Guest(MAC, "10.0.0.5/24"), G.GuestStats()
    reply, event = g.answer(_arp_request("10.0.0.5"), st)
    assert reply is not None and event is not None and str(event) == f"ARP who-has 10.0.0.5 tell 10.0.0.1: is-at {MAC}"
    assert event.to_json() == {"time": event.to_json()["time"], "event": "arp", "who_has": "10.0.0.5", "tell": "10.0.0.1",
                               "mac": PEER, "text": str(event)}
    dst, src, et, payload = P.parse_eth(reply)
    assert (dst, src, et) == (PEER, MAC, P.ETH_P_ARP)
    assert P.parse_arp(payload) == P.Arp(P.ARP_REPLY, MAC, "10.0.0.5", PEER, "10.0.0.1")
    assert g.answer(_arp_request("10.0.0.6"), st) == (None, None)
    assert st.arp_replies == 1


def test_guest_echo_reply_mirrors_the_request() -> None:
    g, st = G.Guest(MAC, "10.0.0.5/24"), G.GuestStats()
    reply, event = g.answer(_echo(MAC, "10.0.0.5", seq=9), st)
    assert reply is not None and event is not None and str(event) == "ICMP echo request from 10.0.0.1 seq 9: replied"
    assert (event.event, dict(event.data)) == ("echo", {"src": "10.0.0.1", "seq": 9})
    dst, src, _, payload = P.parse_eth(reply)
    ip = P.parse_ipv4(payload)
    assert (dst, src, ip.src, ip.dst, ip.checksum_ok) == (PEER, MAC, "10.0.0.5", "10.0.0.1", True)
    m = P.parse_icmp(ip.payload)
    assert (m.type, m.ident, m.seq, m.data) == (P.ICMP_ECHO_REPLY, 77, 9, b"payload!")
    assert P.checksum(ip.payload) == 0


def test_guest_ignores_frames_not_for_it() -> None:
    g, st = G.Guest(MAC, "10.0.0.5/24"), G.GuestStats()
    assert g.answer(_echo(PEER, "10.0.0.5"), st) == (None, None)  # another MAC
    assert g.answer(_echo(MAC, "10.0.0.7"), st) == (None, None)  # another address
    assert g.answer(_echo(MAC, "10.0.0.5", corrupt=True), st) == (None, None)  # bad header checksum
    assert g.answer(b"\x00" * 5, st) == (None, None)
    assert G.Guest(MAC, None).answer(_arp_request("10.0.0.5"), st) == (None, None)  # no address yet
    assert st.echo_replies == 0


def test_guest_announce_is_a_gratuitous_arp() -> None:
    frame = G.Guest(MAC, "10.0.0.5/24").announce()
    dst, src, et, payload = P.parse_eth(frame)
    a = P.parse_arp(payload)
    assert (dst, src, et, a.spa, a.tpa, a.sha) == (P.BROADCAST_MAC, MAC, P.ETH_P_ARP, "10.0.0.5", "10.0.0.5", MAC)


@pytest.mark.parametrize("bad", ["03:00:00:00:00:01", "52:54:00", "zz:00:00:00:00:00"])
def test_guest_refuses_bad_macs(bad: str) -> None:
    with pytest.raises(UsageError):
        G.check_mac(bad)


def test_guest_needs_a_prefix_and_random_macs_are_local_unicast() -> None:
    with pytest.raises(UsageError):
        G.Guest(MAC, "10.0.0.5")
    mac = G.random_mac()
    assert G.check_mac(mac) == mac and int(mac[:2], 16) & 0b11 == 0b10


def test_endpoints_and_routes_parse_or_explain() -> None:
    assert T.parse_endpoint("192.168.0.2:8285") == ("192.168.0.2", 8285)
    assert T.parse_endpoint("[fd00::2]:8285") == ("fd00::2", 8285)
    for bad in ("192.168.0.2", "192.168.0.2:0", "host:80", "1.2.3.4:70000"):
        with pytest.raises(UsageError):
            T.parse_endpoint(bad)
    r = T.parse_route("10.244.2.0/24=192.168.0.3:8285")
    assert str(r.net) == "10.244.2.0/24" and r.endpoint == ("192.168.0.3", 8285)
    for bad in ("10.244.2.0/24", "nonsense=1.2.3.4:1", "10.0.0.0/8=1.2.3.4"):
        with pytest.raises(UsageError):
            T.parse_route(bad)


def test_router_picks_the_longest_prefix_then_the_default() -> None:
    routes = [T.parse_route(x) for x in ("10.244.0.0/16=192.168.0.9:1", "10.244.2.0/24=192.168.0.2:1",
                                         "fd00:2::/64=192.168.0.6:1")]
    r = T.Router(routes, None)

    def to(dst: str) -> tuple[str, int] | None:
        if ":" in dst:
            return r.lookup(memoryview(P.build_ipv6("fd00:1::1", dst, P.PROTO_UDP, b"")))
        return r.lookup(memoryview(P.build_ipv4("10.244.1.1", dst, P.PROTO_UDP, b"")))

    assert to("10.244.2.7") == ("192.168.0.2", 1)
    assert to("10.244.3.7") == ("192.168.0.9", 1)
    assert to("10.245.0.1") is None
    assert to("fd00:2::5") == ("192.168.0.6", 1)
    assert T.Router(routes, ("192.168.0.1", 2)).lookup(memoryview(P.build_ipv4("1.1.1.1", "8.8.8.8", 17, b""))) \
        == ("192.168.0.1", 2)
    assert r.lookup(memoryview(b"\x00" * 30)) is None
