"""A pcap (libpcap classic format) writer that tcpdump -r reads."""

from __future__ import annotations

import errno
import os
import stat
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


class Refused(OSError):
    """The capture file's path is one vnetctl will not write to."""


def create_private(path: str) -> int:
    """A new file at path, mode 0600, made exclusively and renamed into place; the fd open for writing.

    An existing regular file of ours is replaced (never written through: another user's open
    fd or a 0666 mode stays with the old inode); a symlink, a FIFO, a device, another user's
    file, or a directory that is another user's symlink are refused with Refused.
    """
    parent, base = os.path.split(os.path.abspath(path))
    me = os.geteuid()
    link = os.lstat(parent)
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (0, me):
        raise Refused(errno.EPERM, f"its directory {parent} is a symlink of uid {link.st_uid}")
    dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            st: os.stat_result | None = os.stat(base, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise Refused(errno.ELOOP, "it is a symlink")
            if not stat.S_ISREG(st.st_mode):
                raise Refused(errno.EINVAL, "it is not a regular file (a FIFO, a device or a directory)")
            if st.st_uid != me:
                raise Refused(errno.EPERM, f"it belongs to uid {st.st_uid}")
        tmp = f".{base}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            os.rename(tmp, base, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=dfd)
            raise
        return fd
    finally:
        os.close(dfd)


class PcapWriter:
    """Write packets to a new pcap file (private mode 0600, made exclusively, never through a link)."""

    def __init__(self, path: str, linktype: int, snaplen: int = 262144) -> None:
        self.f: BinaryIO = os.fdopen(create_private(path), "wb")
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
