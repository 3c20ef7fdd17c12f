"""Send one real probe (IPv4 or IPv6) from inside a namespace — ICMP echo, UDP datagram or TCP SYN — and wait for its answer."""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from .netns import NsRef, call_in

IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO, IP_RECVERR = 10, 0, 2, 11
IPV6_MTU_DISCOVER, IPV6_RECVERR = 23, 25
ICMP6_ECHO_REPLY = 129
ICMP6_ERRORS = (1, 2, 3, 4)  # destination unreachable, packet too big, time exceeded, parameter problem


@dataclass
class Answer:
    """What came back: `kind` is reply, refused, icmp-error, send-error or none."""

    kind: str
    sent_at: float
    detail: str = ""
    errno_name: str | None = None
    icmp: tuple[int, int, int] | None = None  # type, code, next-hop MTU
    ms: float | None = None


def _v6(dst: str) -> bool:
    return ":" in dst


def _open(ns: NsRef | None, kind: int, proto: int, df: bool, v6: bool = False) -> socket.socket:
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    sock = call_in(ns, lambda: socket.socket(fam, kind | socket.SOCK_CLOEXEC, proto))
    level, opt = (socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER) if v6 else (socket.IPPROTO_IP, IP_MTU_DISCOVER)
    sock.setsockopt(level, opt, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
    if kind == socket.SOCK_DGRAM:
        sock.setsockopt(*((socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else (socket.IPPROTO_IP, IP_RECVERR)), 1)
    return sock


def _send_error(e: OSError, sent_at: float) -> Answer:
    return Answer("send-error", sent_at, e.strerror or str(e), errno.errorcode.get(e.errno or 0))


def icmp_echo(ns: NsRef | None, dst: str, packets: list[bytes], ident: int, df: bool, timeout: float) -> Answer:
    """Send ICMP echo requests (ready-made ICMP messages) on a raw socket; wait for the reply or an ICMP error."""
    v6 = _v6(dst)
    with _open(ns, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP, df, v6) as sock:
        sent_at = time.time()
        try:
            for pkt in packets:
                sock.sendto(pkt, (dst, 0))
        except OSError as e:
            return _send_error(e, sent_at)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, addr = sock.recvfrom(65535)
            ans = _match_icmp6(data, addr[0], ident, sent_at) if v6 else _match_icmp(data, ident, sent_at)
            if ans is not None:
                return ans
        return Answer("none", sent_at)


def _match_icmp(data: bytes, ident: int, sent_at: float) -> Answer | None:
    ihl = (data[0] & 0x0F) * 4
    icmp = data[ihl:]
    if len(icmp) < 8:
        return None
    typ, code = icmp[0], icmp[1]
    ms = round((time.time() - sent_at) * 1000, 3)
    if typ == 0 and int.from_bytes(icmp[4:6], "big") == ident:
        return Answer("reply", sent_at, "echo reply", ms=ms)
    if typ in (3, 11, 12) and len(icmp) >= 8 + 20 + 8:
        inner = icmp[8:]
        iihl = (inner[0] & 0x0F) * 4
        if inner[9] == 1 and int.from_bytes(inner[iihl + 4:iihl + 6], "big") == ident:
            src = socket.inet_ntoa(data[12:16])
            mtu = int.from_bytes(icmp[6:8], "big") if typ == 3 and code == 4 else 0
            return Answer("icmp-error", sent_at, f"ICMP type {typ} code {code} from {src}", icmp=(typ, code, mtu), ms=ms)
    return None


def _match_icmp6(data: bytes, src: str, ident: int, sent_at: float) -> Answer | None:
    """An ICMPv6 message (a raw ICMPv6 socket gets no IP header) about our echo: its reply, or an error quoting it."""
    if len(data) < 8:
        return None
    typ, code = data[0], data[1]
    ms = round((time.time() - sent_at) * 1000, 3)
    if typ == ICMP6_ECHO_REPLY and int.from_bytes(data[4:6], "big") == ident:
        return Answer("reply", sent_at, "echo reply", ms=ms)
    inner = data[8:]
    if typ in ICMP6_ERRORS and len(inner) >= 48 and inner[6] == 58 and int.from_bytes(inner[44:46], "big") == ident:
        mtu = int.from_bytes(data[4:8], "big") if typ == 2 else 0
        return Answer("icmp-error", sent_at, f"ICMPv6 type {typ} code {code} from {src}", icmp=(typ, code, mtu), ms=ms)
    return None


def udp(ns: NsRef | None, dst: str, port: int, sport: int, payloads: list[bytes], df: bool, timeout: float) -> Answer:
    """Send UDP datagrams from `sport` to dst:port; a reply, a port unreachable (refused) or an ICMP error."""
    with _open(ns, socket.SOCK_DGRAM, 0, df, _v6(dst)) as sock:
        sent_at = time.time()
        try:
            sock.bind(("::" if _v6(dst) else "0.0.0.0", sport))
            sock.connect((dst, port))
            for p in payloads:
                sock.send(p)
        except OSError as e:
            return _send_error(e, sent_at)
        return _await_stream(sock, sent_at, timeout, lambda: sock.recv(65535))


def tcp(ns: NsRef | None, dst: str, port: int, sport: int, timeout: float) -> Answer:
    """Send a TCP SYN from `sport`; a SYN-ACK (reply), a RST (refused) or an ICMP error."""
    with _open(ns, socket.SOCK_STREAM, 0, False, _v6(dst)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sent_at = time.time()
        try:
            sock.bind(("::" if _v6(dst) else "0.0.0.0", sport))
            rc = sock.connect_ex((dst, port))
        except OSError as e:
            return _send_error(e, sent_at)
        if rc not in (0, errno.EINPROGRESS):
            return _send_error(OSError(rc, errno.errorcode.get(rc, str(rc))), sent_at)
        _, writable, _ = select.select([], [sock], [], timeout)
        ms = round((time.time() - sent_at) * 1000, 3)
        if not writable:
            return Answer("none", sent_at)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            return Answer("reply", sent_at, "SYN-ACK", ms=ms)
        return _errno_answer(err, sent_at, ms)


def _await_stream(sock: socket.socket, sent_at: float, timeout: float, recv: Callable[[], bytes]) -> Answer:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        ms = round((time.time() - sent_at) * 1000, 3)
        try:
            recv()
            return Answer("reply", sent_at, "datagram back", ms=ms)
        except OSError as e:
            return _errno_answer(e.errno or 0, sent_at, ms)
    return Answer("none", sent_at)


def _errno_answer(err: int, sent_at: float, ms: float) -> Answer:
    name = errno.errorcode.get(err, str(err))
    if err == errno.ECONNREFUSED:
        return Answer("refused", sent_at, "connection refused (RST or port unreachable)", name, ms=ms)
    return Answer("icmp-error", sent_at, f"{name}: {os.strerror(err)}", name, ms=ms)
