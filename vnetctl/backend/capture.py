"""Capture a probe on many devices at once: AF_PACKET sockets opened inside each namespace, a classic BPF filter each."""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from . import nsocket

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
ACCEPT_BYTES = 0x40000
_INSN = struct.Struct("=HBBI")


def bpf_program(matches: list[tuple[int, int]]) -> bytes:
    """Classic BPF: accept a frame when the 32-bit word at any `offset` equals its `value`.

    Offsets are tried in ascending order, because a load past the end of a short frame
    ends the program (drop) — every later offset would be past it too.
    """
    pairs = sorted(set(matches))
    if not pairs or len(pairs) > 120:
        raise ValueError("between 1 and 120 (offset, value) pairs")
    accept = 2 * len(pairs) + 1
    insns = []
    for j, (off, value) in enumerate(pairs):
        insns.append(_INSN.pack(BPF_LD_W_ABS, 0, 0, off))
        insns.append(_INSN.pack(BPF_JEQ_K, accept - (2 * j + 2), 0, value & 0xFFFFFFFF))
    insns.append(_INSN.pack(BPF_RET_K, 0, 0, 0))
    insns.append(_INSN.pack(BPF_RET_K, 0, 0, ACCEPT_BYTES))
    return b"".join(insns)


def attach_filter(sock: socket.socket, program: bytes) -> None:
    """Attach a classic BPF program (struct sock_fprog) to a socket."""
    import ctypes

    buf = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // _INSN.size, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@dataclass(frozen=True)
class Frame:
    """One captured frame: where (the tap's key, the device), which way, when (kernel time, epoch seconds), its bytes."""

    key: int
    outgoing: bool
    hatype: int
    stamp: float
    data: bytes
    device: str = ""


class Taps:
    """AF_PACKET sockets on (namespace file, device) pairs, filtered by one BPF program; close() releases them.

    A device of None taps every device of its namespace with one socket (Frame.device names it).
    """

    def __init__(self, points: list[tuple[str, str | None]], program: bytes) -> None:
        self.errors: dict[int, str] = {}
        self._socks: dict[int, socket.socket] = {}
        # Protocol 0 at creation: no frame is queued before the filter is attached and the socket bound.
        # A whole-namespace tap cannot be bound to ifindex 0 from Python: it listens from creation,
        # and what it queued before its filter (never the probe, not sent yet) is thrown away.
        protos = [0 if dev is not None else socket.htons(ETH_P_ALL) for _, dev in points]
        it = iter(protos)
        opened = nsocket.sockets_in([p for p, _ in points], lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, next(it)))
        for key, ((_, dev), sock) in enumerate(zip(points, opened, strict=True)):
            if isinstance(sock, OSError):
                self.errors[key] = sock.strerror or str(sock)
                continue
            try:
                attach_filter(sock, program)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.setblocking(False)
                if dev is not None:
                    sock.bind((dev, ETH_P_ALL))
            except OSError as e:
                sock.close()
                self.errors[key] = f"{dev or 'all devices'}: {e.strerror or e}"
                continue
            self._socks[key] = sock
            if dev is None:
                self._drain(key)

    def collect(self, until: float, done: object = None) -> list[Frame]:
        """Read frames from every socket until monotonic time `until` (or until done() is true)."""
        out: list[Frame] = []
        by_fd = {s.fileno(): k for k, s in self._socks.items()}
        poller = select.poll()
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        while True:
            left = until - time.monotonic()
            if callable(done) and done(out):
                break
            ready = poller.poll(max(0, int(left * 1000)))
            for fd, _ in ready:
                out += self._drain(by_fd[fd])
            if left <= 0 and not ready:
                break
        return out

    def _drain(self, key: int) -> list[Frame]:
        sock = self._socks[key]
        out: list[Frame] = []
        while True:
            try:
                data, anc, _, addr = sock.recvmsg(65535, 64)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return out
                if e.errno == errno.ENETDOWN:  # bound while the device was down: reported once, capture goes on
                    continue
                raise
            stamp = time.time()
            for level, typ, raw in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    stamp = sec + nsec / 1e9
            out.append(Frame(key, addr[2] == PACKET_OUTGOING, addr[3], stamp, data, addr[0]))

    def close(self) -> None:
        """Close every socket, side by side: each close waits for an RCU grace period (synchronize_net)."""
        threads = [threading.Thread(target=s.close, name="vnetctl-tap-close") for s in self._socks.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._socks.clear()
