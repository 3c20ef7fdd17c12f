"""ethtool ioctls (SIOCETHTOOL) on a socket: driver info and statistics, in the socket's namespace.

pyroute2 has no ETHTOOL_GDRVINFO wrapper; this issues the ioctls `ethtool -i` and
`ethtool -S` issue. Any socket works: the kernel resolves the device name in the
namespace the socket was opened in, so a socket opened inside a namespace reads that
namespace's devices.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import struct
from dataclasses import dataclass

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x03
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GSTATS = 0x1D
ETH_SS_STATS = 1
ETH_GSTRING_LEN = 32
_DRVINFO = struct.Struct("=I32s32s32s32s32s12sIIIII")
_GDRVINFO = _DRVINFO.pack(ETHTOOL_GDRVINFO, *([b""] * 6), 0, 0, 0, 0, 0)
# Errors meaning "this device has no such information", not a failure.
_ABSENT = (errno.EOPNOTSUPP, errno.ENODEV, errno.EINVAL, errno.ENOTSUP)


def _room(n_stats: int) -> int:
    # The kernel writes as many entries as the device has *now*, whatever count we
    # pass, so leave room for a device that grew queues since GDRVINFO.
    return n_stats * 2 + 64


@dataclass(frozen=True)
class DrvInfo:
    """What `ethtool -i` prints: driver, version, firmware, bus-info; and the stats count."""

    driver: str
    version: str
    fw_version: str
    bus_info: str
    n_stats: int


# Answers already decoded: a thousand veths answer alike, and a DrvInfo is immutable.
_SEEN: dict[bytes, DrvInfo] = {}


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _ioctl(fd: int, dev: str, buf: ctypes.Array) -> None:
    ifr = struct.pack("16sP16x", dev.encode()[:15], ctypes.addressof(buf))
    fcntl.ioctl(fd, SIOCETHTOOL, ifr)


def drvinfo(fd: int, dev: str) -> DrvInfo | None:
    """ETHTOOL_GDRVINFO for dev; None when the device has no driver info (like lo)."""
    buf = ctypes.create_string_buffer(_GDRVINFO, _DRVINFO.size)
    try:
        _ioctl(fd, dev, buf)
    except OSError as e:
        if e.errno in _ABSENT:
            return None
        raise
    raw = buf.raw
    found = _SEEN.get(raw)
    if found is None:
        f = _DRVINFO.unpack(raw)
        found = _SEEN[raw] = DrvInfo(_text(f[1]), _text(f[2]), _text(f[3]), _text(f[4]), f[8])
    return found


def stat_names(fd: int, dev: str, n_stats: int) -> list[str]:
    """The ETH_SS_STATS string set (the names `ethtool -S` prints)."""
    if n_stats <= 0:
        return []
    buf = ctypes.create_string_buffer(struct.pack("=III", ETHTOOL_GSTRINGS, ETH_SS_STATS, n_stats),
                                      12 + _room(n_stats) * ETH_GSTRING_LEN)
    _ioctl(fd, dev, buf)
    (got,) = struct.unpack_from("=I", buf.raw, 8)
    raw = buf.raw
    return [_text(raw[12 + i * ETH_GSTRING_LEN:12 + (i + 1) * ETH_GSTRING_LEN]) for i in range(min(got, _room(n_stats)))]


def stat_values(fd: int, dev: str, n_stats: int) -> list[int]:
    """ETHTOOL_GSTATS: the statistics' values, in string-set order."""
    if n_stats <= 0:
        return []
    buf = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_GSTATS, n_stats), 8 + _room(n_stats) * 8)
    _ioctl(fd, dev, buf)
    (got,) = struct.unpack_from("=I", buf.raw, 4)
    return list(struct.unpack_from(f"={min(got, _room(n_stats))}Q", buf.raw, 8))


def stats(fd: int, dev: str) -> dict[str, int]:
    """Every statistic of dev by name (what `ethtool -S` prints)."""
    info = drvinfo(fd, dev)
    if info is None:
        return {}
    return dict(zip(stat_names(fd, dev, info.n_stats), stat_values(fd, dev, info.n_stats), strict=False))


class PeerIndexReader:
    """Reads a veth's `peer_ifindex` statistic, caching where it sits in each driver's string set."""

    def __init__(self) -> None:
        self._slot: dict[tuple[str, int], int | None] = {}

    def read(self, fd: int, dev: str, info: DrvInfo) -> int | None:
        """The peer_ifindex statistic of dev, or None if its driver has none."""
        key = (info.driver, info.n_stats)
        if key not in self._slot:
            names = stat_names(fd, dev, info.n_stats)
            self._slot[key] = names.index("peer_ifindex") if "peer_ifindex" in names else None
        slot = self._slot[key]
        if slot is None:
            return None
        values = stat_values(fd, dev, info.n_stats)
        return values[slot] if len(values) > slot else None
