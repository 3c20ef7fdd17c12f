"""Pure parsing under inspect: rtnetlink link messages, mountinfo escapes, ethtool struct layout."""

from __future__ import annotations

import socket
import struct

from vnetctl.backend import ethtool, procfs, rtdump


def nla(typ: int, payload: bytes) -> bytes:
    """One netlink attribute, padded."""
    raw = struct.pack("=HH", 4 + len(payload), typ) + payload
    return raw + b"\0" * (-len(raw) % 4)


def newlink(index: int, attrs: bytes, arphrd: int = 1, flags: int = 1) -> bytes:
    """An RTM_NEWLINK message as the kernel sends it."""
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, arphrd, index, flags, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), rtdump.RTM_NEWLINK, 2, 1, 0) + body


def test_parse_veth_with_peer_in_another_namespace() -> None:
    info = nla(rtdump.IFLA_INFO_KIND, b"veth\0")
    props = nla(rtdump.IFLA_ALT_IFNAME, b"a-very-long-alternative-name\0")
    msg = newlink(7, nla(rtdump.IFLA_IFNAME, b"eth0\0") + nla(rtdump.IFLA_MTU, struct.pack("=I", 9000))
                  + nla(rtdump.IFLA_ADDRESS, bytes.fromhex("02aabbccddee")) + nla(rtdump.IFLA_LINK, struct.pack("=I", 12))
                  + nla(rtdump.IFLA_LINK_NETNSID, struct.pack("=i", 3)) + nla(rtdump.IFLA_OPERSTATE, b"\x06")
                  + nla(99, b"ignored!") + nla(rtdump.IFLA_LINKINFO | 0x8000, info)
                  + nla(rtdump.IFLA_PROP_LIST | 0x8000, props) + nla(rtdump.IFLA_MASTER, struct.pack("=I", 4)))
    link = rtdump.parse_link(msg, 16)
    assert (link.name, link.index, link.kind, link.mtu, link.state, link.up) == ("eth0", 7, "veth", 9000, "UP", True)
    assert (link.mac, link.link, link.link_netnsid, link.master) == ("02:aa:bb:cc:dd:ee", 12, 3, 4)
    assert link.altnames == ("a-very-long-alternative-name",)
    assert rtdump.link_type(msg, 16) == "ether"


def test_parse_tap_details_and_loopback_type() -> None:
    data = nla(3, b"\x02") + nla(6, b"\x01") + nla(8, struct.pack("=I", 1))
    info = nla(rtdump.IFLA_INFO_KIND, b"tun\0") + nla(rtdump.IFLA_INFO_DATA | 0x8000, data)
    msg = newlink(3, nla(rtdump.IFLA_IFNAME, b"tap0\0") + nla(rtdump.IFLA_LINKINFO, info), flags=0)
    link = rtdump.parse_link(msg, 16)
    assert link.detail("tun_type") == 2 and link.detail("tun_persist") == 1 and link.detail("tun_num_queues") == 1
    assert link.up is False and link.state == "UNKNOWN" and link.link_netnsid is None
    assert rtdump.link_type(newlink(1, b"", arphrd=772), 16) == "loopback"


def test_mountinfo_escapes() -> None:
    assert procfs._unescape(r"/run/my\040netns\011x\134y") == "/run/my netns\tx\\y"
    assert procfs._unescape("/run/plain") == "/run/plain"


def test_mountinfo_nsfs_lines() -> None:
    text = (b"36 35 0:4 net:[4026532255] /run/netns/a\\040b rw,relatime shared:1 master:2 - nsfs nsfs rw\n"
            b"37 35 98:0 / /mnt rw,relatime - ext4 /dev/vda rw\n"
            b"38 35 0:4 net:[4026532256] /run/x rw - nsfs nsfs rw\n"
            b"39 35 0:4 mnt:[4026532257] /run/y rw - nsfs nsfs rw\n")
    assert procfs.parse_nsfs(text) == [("/run/netns/a b", 4026532255), ("/run/x", 4026532256)]
    assert procfs.parse_nsfs(text, {4026532255}) == [("/run/x", 4026532256)]
    assert procfs.parse_nsfs(text, {4026532255, 4026532256}) == []


def test_ethtool_drvinfo_layout_matches_the_kernel() -> None:
    # struct ethtool_drvinfo is 196 bytes: cmd, 5 x 32-byte strings, 12 reserved, 5 x u32
    assert ethtool._DRVINFO.size == 196
    assert struct.calcsize(ethtool._DRVINFO.format) == 196
