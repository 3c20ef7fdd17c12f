"""Packet codecs: parse what we build, and agree with known-good bytes and checksums."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnetctl.userspace import packet as P
from vnetctl.userspace import pcap

# An ICMP echo request as `ping -c1 192.168.10.12` from 192.168.10.11 sends it (84 bytes).
PING = bytes.fromhex(
    "45000054711b400040013426c0a80a0bc0a80a0c08001e62000b0001"
    "623b026b00000000b418020000000000101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f3031323334353637")


def _ref_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@given(st.binary(max_size=300))
def test_checksum_matches_rfc1071_loop(data: bytes) -> None:
    assert P.checksum(data) == _ref_checksum(data)


def test_checksum_edge_cases() -> None:
    assert P.checksum(b"") == 0xFFFF
    assert P.checksum(b"\xff\xff") == 0
    assert P.checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7") == 0x220D  # RFC 1071 example sum 0xddf2


def test_parse_real_ping_packet() -> None:
    ip = P.parse_ipv4(PING)
    assert (ip.src, ip.dst, ip.proto, ip.ttl, ip.total_length) == ("192.168.10.11", "192.168.10.12", 1, 64, 84)
    assert ip.checksum_ok
    m = P.parse_icmp(ip.payload)
    assert (m.type, m.code, m.ident, m.seq) == (8, 0, 11, 1)
    assert P.checksum(ip.payload) == 0
    s = P.summarize(PING)
    assert (s.len, s.proto, s.src, s.dst) == (84, "ICMP", "192.168.10.11", "192.168.10.12")
    assert s.line() == "ICMP 192.168.10.11 > 192.168.10.12 echo request id 11 seq 1"


def test_build_ipv4_icmp_round_trip_and_header_checksum() -> None:
    icmp = P.build_icmp(P.ICMP_ECHO_REQUEST, 0, 0x1234, 7, b"abcdefgh")
    pkt = P.build_ipv4("10.0.0.1", "10.0.0.2", P.PROTO_ICMP, icmp, ttl=33, ident=99)
    assert len(pkt) == 20 + 16 and P.checksum(pkt[:20]) == 0
    ip = P.parse_ipv4(pkt)
    assert (ip.ttl, ip.ident, ip.checksum_ok, ip.fragment) == (33, 99, True, False)
    assert P.parse_icmp(ip.payload) == P.Icmp(8, 0, 0x1234, 7, b"abcdefgh")
    corrupt = bytearray(pkt)
    corrupt[8] ^= 1
    assert not P.parse_ipv4(bytes(corrupt)).checksum_ok


@given(st.integers(0, 65535), st.integers(0, 65535), st.binary(max_size=200))
def test_udp_build_parse_and_checksum_v4(sport: int, dport: int, payload: bytes) -> None:
    seg = P.build_udp("192.0.2.1", "198.51.100.7", sport, dport, payload)
    u = P.parse_udp(seg)
    assert (u.sport, u.dport, u.length, u.payload) == (sport, dport, 8 + len(payload), payload)
    assert P.l4_checksum_ok("192.0.2.1", "198.51.100.7", P.PROTO_UDP, seg)
    assert not P.l4_checksum_ok("192.0.2.1", "198.51.100.8", P.PROTO_UDP, seg)


def test_udp_v6_and_icmpv6_checksums() -> None:
    seg = P.build_udp("fd00::1", "fd00::2", 5353, 53, b"query")
    assert P.l4_checksum_ok("fd00::1", "fd00::2", P.PROTO_UDP, seg)
    icmp6 = P.build_icmp6("fd00::1", "fd00::2", P.ICMP6_ECHO_REQUEST, 0, 1, 2, b"x")
    assert P.l4_checksum_ok("fd00::1", "fd00::2", P.PROTO_ICMPV6, icmp6)
    pkt = P.build_ipv6("fd00::1", "fd00::2", P.PROTO_ICMPV6, icmp6, hop_limit=9)
    ip6 = P.parse_ipv6(pkt)
    assert (ip6.src, ip6.dst, ip6.next_header, ip6.hop_limit, ip6.payload) == ("fd00::1", "fd00::2", 58, 9, icmp6)
    s = P.summarize(pkt)
    assert (s.proto, s.info) == ("ICMPv6", "echo request id 1 seq 2")


def test_tcp_build_parse_flags_and_checksum() -> None:
    seg = P.build_tcp("10.0.0.1", "10.0.0.2", 40000, 80, 1000, 0, 0x02)
    t = P.parse_tcp(seg)
    assert (t.sport, t.dport, t.seq, t.flag_text, t.payload) == (40000, 80, 1000, "S", b"")
    assert P.l4_checksum_ok("10.0.0.1", "10.0.0.2", P.PROTO_TCP, seg)
    data = P.build_tcp("10.0.0.1", "10.0.0.2", 1, 2, 5, 6, 0x18, b"payload")
    assert P.parse_tcp(data).flag_text == "PA" and P.parse_tcp(data).payload == b"payload"
    s = P.summarize(P.build_ipv4("10.0.0.1", "10.0.0.2", P.PROTO_TCP, seg))
    assert s.as_dict()["sport"] == 40000 and s.as_dict()["flags"] == "S" and s.proto == "TCP"


def test_arp_and_ethernet_round_trip() -> None:
    arp = P.build_arp(P.ARP_REQUEST, "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.5")
    frame = P.build_eth(P.BROADCAST_MAC, "02:00:00:00:00:01", P.ETH_P_ARP, arp)
    dst, src, et, payload = P.parse_eth(frame)
    assert (dst, src, et) == ("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", P.ETH_P_ARP)
    assert P.parse_arp(payload) == P.Arp(1, "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.5")
    s = P.summarize(frame, l2=True)
    assert (s.proto, s.src, s.dst, s.info) == ("ARP", "10.0.0.1", "10.0.0.5", "who-has 10.0.0.5 tell 10.0.0.1")
    assert s.as_dict()["eth_src"] == "02:00:00:00:00:01"


def test_malformed_input_is_reported_not_raised() -> None:
    assert P.summarize(b"").proto == "unknown"
    assert P.summarize(b"\x45\x00").proto == "malformed"
    assert P.summarize(b"\x01\x02", l2=True).proto == "malformed"
    with pytest.raises(P.PacketError):
        P.parse_arp(b"\0" * 10)
    with pytest.raises(P.PacketError):
        P.mac_bytes("02:00")


@given(st.binary(max_size=120), st.booleans())
def test_summarize_never_raises(data: bytes, l2: bool) -> None:
    s = P.summarize(data, l2)
    assert s.len == len(data)


def test_fragment_is_not_decoded_as_l4() -> None:
    pkt = bytearray(P.build_ipv4("10.0.0.1", "10.0.0.2", P.PROTO_UDP, b"\0" * 16, dont_fragment=False))
    pkt[6:8] = struct.pack("!H", 185)  # fragment offset 185*8
    assert P.summarize(bytes(pkt)).info.startswith("fragment")


def test_pcap_writer_header_and_records(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    w = pcap.PcapWriter(str(path), pcap.LINKTYPE_RAW)
    w.write(PING, ts=1700000000.25)
    w.write(b"\x60" + b"\0" * 39, ts=1700000001.0)
    w.close()
    raw = path.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    assert struct.unpack_from("<HHiIII", raw, 4) == (2, 4, 0, 0, 262144, 101)
    linktype, recs = pcap.read_records(raw)
    assert linktype == 101 and [r[1] for r in recs] == [84, 40]
    assert recs[0][2] == PING and abs(recs[0][0] - 1700000000.25) < 1e-6
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_pcap_snaplen_truncates_but_keeps_original_length() -> None:
    rec = pcap.record(b"x" * 100, 1.5, snaplen=10)
    assert struct.unpack_from("<IIII", rec) == (1, 500000, 10, 100) and len(rec) == 26


def test_pcap_refuses_to_follow_a_symlink(tmp_path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        pcap.PcapWriter(str(tmp_path / "link"), pcap.LINKTYPE_EN10MB)
    assert target.read_text() == "keep"


def test_in_subnet() -> None:
    assert P.in_subnet("10.244.2.9", "10.244.2.0/24") and not P.in_subnet("10.244.3.9", "10.244.2.0/24")
