"""A pcap (libpcap classic format) writer that tcpdump -r reads."""

from __future__ import annotations

import os
import struct
import time
from typing import BinaryIO

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPES = {"tap": LINKTYPE_EN10MB, "tun": LINKTYPE_RAW}


def file_header(linktype: int, snaplen: int = 262144) -> bytes:
    """The 24-byte global header."""
    return struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def record(data: bytes | memoryview, ts: float, snaplen: int = 262144) -> bytes:
    """One record: 16-byte header then the (possibly truncated) packet."""
    sec = int(ts)
    usec = int((ts - sec) * 1_000_000)
    cap = bytes(data[:snaplen])
    return struct.pack("<IIII", sec, usec, len(cap), len(data)) + cap


class PcapWriter:
    """Append packets to a new pcap file (private mode 0600, never following a symlink)."""

    def __init__(self, path: str, linktype: int, snaplen: int = 262144) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self.f: BinaryIO = os.fdopen(fd, "wb")
        self.snaplen = snaplen
        self.f.write(file_header(linktype, snaplen))
        self.f.flush()

    def write(self, data: bytes | memoryview, ts: float | None = None) -> None:
        """Append one packet captured at ts (now by default)."""
        self.f.write(record(data, time.time() if ts is None else ts, self.snaplen))

    def flush(self) -> None:
        """Push buffered records to the file."""
        self.f.flush()

    def close(self) -> None:
        """Flush and close."""
        self.f.close()


def read_records(raw: bytes) -> tuple[int, list[tuple[float, int, bytes]]]:
    """(linktype, [(ts, original length, data)]) of a pcap written by PcapWriter."""
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", raw)
    if magic != PCAP_MAGIC:
        raise ValueError("not a little-endian microsecond pcap file")
    out, off = [], 24
    while off + 16 <= len(raw):
        sec, usec, caplen, origlen = struct.unpack_from("<IIII", raw, off)
        out.append((sec + usec / 1e6, origlen, raw[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, out
