"""DHCP messages built and parsed by hand: the wire layout of RFC 2131 and the client's state machine."""

from __future__ import annotations

import struct

from vnetctl.userspace import dhcp
from vnetctl.userspace import packet as P

MAC = "02:00:00:aa:bb:cc"


def _server_frame(msg: dhcp.DhcpMessage) -> bytes:
    udp = P.build_udp("10.0.0.2", "255.255.255.255", dhcp.SERVER_PORT, dhcp.CLIENT_PORT, dhcp.encode(msg))
    return P.build_eth(P.BROADCAST_MAC, "02:00:00:00:00:02", P.ETH_P_IP,
                       P.build_ipv4("10.0.0.2", "255.255.255.255", P.PROTO_UDP, udp))


def test_discover_wire_layout() -> None:
    raw = dhcp.encode(dhcp.discover(MAC, 0xDEADBEEF, "vm1"))
    assert len(raw) >= 300
    op, htype, hlen, hops, xid, secs, flags = struct.unpack_from("!BBBBIHH", raw)
    assert (op, htype, hlen, hops, xid, flags) == (1, 1, 6, 0, 0xDEADBEEF, 0x8000)
    assert raw[28:34] == bytes.fromhex("020000aabbcc") and raw[236:240] == b"\x63\x82\x53\x63"
    assert raw[240:243] == b"\x35\x01\x01"  # option 53 length 1 DISCOVER, first
    back = dhcp.decode(raw)
    assert back.msg_type == dhcp.DISCOVER and back.chaddr == MAC
    assert back.options[dhcp.OPT_HOSTNAME] == b"vm1" and back.options[dhcp.OPT_CLIENT_ID] == b"\x01" + bytes.fromhex("020000aabbcc")


def test_request_carries_requested_ip_and_server_id() -> None:
    m = dhcp.decode(dhcp.encode(dhcp.request(MAC, 7, "10.0.0.50", "10.0.0.2")))
    assert m.msg_type == dhcp.REQUEST
    assert m.addr_option(dhcp.OPT_REQUESTED_IP) == "10.0.0.50" and m.addr_option(dhcp.OPT_SERVER_ID) == "10.0.0.2"


def test_decode_skips_pad_and_concatenates_split_options() -> None:
    raw = bytearray(dhcp.encode(dhcp.DhcpMessage(2, 1, MAC, options={})))
    opts = b"\x00\x00" + b"\x35\x01\x05" + b"\x0c\x02ab" + b"\x0c\x02cd" + b"\xff"
    raw[240:240 + len(opts)] = opts
    m = dhcp.decode(bytes(raw))
    assert m.msg_type == dhcp.ACK and m.options[dhcp.OPT_HOSTNAME] == b"abcd"


def test_decode_rejects_truncated_and_non_dhcp() -> None:
    for bad in (b"\0" * 100, b"\0" * 300):
        try:
            dhcp.decode(bad)
        except P.PacketError:
            continue
        raise AssertionError("accepted a non-DHCP message")
    raw = bytearray(dhcp.encode(dhcp.discover(MAC, 1)))
    raw[240:243] = b"\x0c\x30a"  # option claims 48 bytes, message ends first
    del raw[243:]
    try:
        dhcp.decode(bytes(raw))
    except P.PacketError:
        return
    raise AssertionError("accepted an option running past the end")


def test_client_frame_is_broadcast_from_zero_to_port_67() -> None:
    frame = dhcp.client_frame(MAC, dhcp.discover(MAC, 3))
    dst, src, et, payload = P.parse_eth(frame)
    assert (dst, src, et) == (P.BROADCAST_MAC, MAC, P.ETH_P_IP)
    ip = P.parse_ipv4(payload)
    assert (ip.src, ip.dst, ip.proto, ip.checksum_ok) == ("0.0.0.0", "255.255.255.255", P.PROTO_UDP, True)
    u = P.parse_udp(ip.payload)
    assert (u.sport, u.dport) == (68, 67)
    assert P.l4_checksum_ok(ip.src, ip.dst, P.PROTO_UDP, ip.payload)


def test_client_state_machine_discover_offer_request_ack() -> None:
    c = dhcp.Client(MAC, xid=42)
    disc = dhcp.decode(P.parse_udp(P.parse_ipv4(P.parse_eth(c.start())[3]).payload).payload)
    assert c.state == "SELECTING" and disc.msg_type == dhcp.DISCOVER
    assert c.handle(_server_frame(dhcp.reply(dhcp.DhcpMessage(2, 41, MAC), dhcp.OFFER, "10.0.0.9", "10.0.0.2"))) is None
    assert c.state == "SELECTING"  # wrong xid ignored
    req_frame = c.handle(_server_frame(dhcp.reply(disc, dhcp.OFFER, "10.0.0.50", "10.0.0.2", "255.255.255.0")))
    assert c.state == "REQUESTING" and req_frame is not None
    req = dhcp.decode(P.parse_udp(P.parse_ipv4(P.parse_eth(req_frame)[3]).payload).payload)
    assert req.msg_type == dhcp.REQUEST and req.addr_option(dhcp.OPT_REQUESTED_IP) == "10.0.0.50"
    assert c.retransmit() == req_frame
    c.handle(_server_frame(dhcp.reply(req, dhcp.ACK, "10.0.0.50", "10.0.0.2", "255.255.0.0", lease=600,
                                      router="10.0.0.1")))
    assert c.state == "BOUND" and c.lease is not None
    assert (c.lease.cidr, c.lease.server, c.lease.lease_time, c.lease.router) == ("10.0.0.50/16", "10.0.0.2", 600, "10.0.0.1")


def test_client_restarts_on_nak() -> None:
    c = dhcp.Client(MAC, xid=9)
    c.start()
    req = dhcp.request(MAC, 9, "10.0.0.50", "10.0.0.2")
    c.handle(_server_frame(dhcp.reply(req, dhcp.OFFER, "10.0.0.50", "10.0.0.2")))
    again = c.handle(_server_frame(dhcp.reply(req, dhcp.NAK, "0.0.0.0", "10.0.0.2")))
    assert c.state == "SELECTING" and again is not None and c.lease is None
