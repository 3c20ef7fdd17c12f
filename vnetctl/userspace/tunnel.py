"""The OpenVPN / flannel-UDP data path: IP packets from a tun carried as UDP datagrams to a peer.

Fast path (the default): the tun is opened with IFF_VNET_HDR and TUNSETOFFLOAD, so the
kernel hands over whole TCP GSO super-packets (up to ~64 KB) prefixed by a virtio_net_hdr,
and accepts them back the same way on the far side. One read and one send move ~64 KB,
so the per-packet cost of Python is paid once per 40 segments. Each packet is the 10-byte
virtio_net_hdr followed by the IP packet, sent with UDP_SEGMENT (the kernel cuts it into
path-MTU datagrams) and received whole by a UDP_GRO socket; the receiver writes only whole
packets. Where the kernel lacks UDP_SEGMENT/UDP_GRO, or the underlay delivers the datagrams
in pieces (the receiver asks the sender, with a control datagram, to stop), the packet goes
as one datagram that the underlay fragments at the IP layer instead, and the tunnel says so.
With --no-offload the wire format is the bare IP packet, as flannel's UDP backend sends it.

Each tun queue gets two threads (tun->UDP and UDP->tun); they block in syscalls, which
release the GIL, so the two directions and several queues run on separate cores.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from ..backend import tun
from ..backend.netns import call_in, resolve
from ..errors import BackendError, Failed, UsageError
from .tunnel_routes import Route, Router, parse_endpoint, parse_route
from .tunnel_stats import DEVICE_GONE, Counters, TunnelStats

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_MTU = 14
IPV6_MTU = 24
UDP_SEGMENT = 103
UDP_GRO = 104
MAX_DATAGRAM = 65507
SOCK_BUF = 8 * 1024 * 1024
# Sent by a receiver to a peer whose UDP GSO packets reach it in pieces; shorter than any packet.
NO_GSO = b"vnetctl:no-udp-gso\0"
PIECES_BEFORE_ASKING = 8
# Errors a tunnel must ride out: the tun is down (EIO), the peer is not listening yet
# (ECONNREFUSED from an ICMP port unreachable), no route or buffer for a moment.
TRANSIENT = {errno.EIO, errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENOBUFS, errno.EAGAIN,
             errno.EINVAL, errno.EMSGSIZE, errno.ENETDOWN}


class Tunnel:
    """A running tunnel: tun queues, UDP sockets and their worker threads."""

    def __init__(self, dev: str, local: tuple[str, int], remote: tuple[str, int] | None, routes: list[Route],
                 netns: str | None = None, queues: int = 1, offload: bool = True, udp_gso: bool | None = None) -> None:
        if remote is None and not routes:
            raise UsageError("the tunnel has nowhere to send", "give --remote IP:PORT or at least one --route")
        if queues < 1:
            raise UsageError(f"invalid queue count {queues}", "give --queues 1 or more")
        if udp_gso and not offload:
            raise UsageError("--udp-gso needs --offload", "it carries the 64 KB packets that offload produces")
        self.dev, self.local, self.remote, self.routes = dev, local, remote, routes
        self.offload, self.queues = offload, queues
        # udp_gso None: UDP GSO where the kernel has it; a receiver with offload always takes packets whole (UDP_GRO)
        self.udp_gso = offload and udp_gso is not False
        self.gro = offload
        self.segment = 0
        self.notes: list[str] = []
        self.gso_off: set[tuple[str, int]] = set()  # peers that asked for IP fragments instead
        self.peers = {ep for ep in [remote, *(r.endpoint for r in routes)] if ep is not None}
        self.ns = resolve(netns)
        self.hdr = tun.VNET_HDR_LEN if offload else 0
        self.router = Router(routes, remote)
        self.fds: list[int] = []
        self.socks: list[socket.socket] = []
        self.counters: list[tuple[Counters, Counters]] = []
        self.threads: list[threading.Thread] = []
        self.started = 0.0

    def open(self) -> None:
        """Attach to the tun and bind the UDP sockets (in the tunnel's namespace)."""
        try:
            # Sockets first: once the tun has a carrier (a reader attached), the tunnel can carry.
            for _ in range(self.queues):
                self.socks.append(call_in(self.ns, self._socket))
            self.fds = tun.attach_queues(self.dev, "tun", self.ns, self.queues, vnet_hdr=self.offload,
                                         offload=tun.OFFLOAD_TCP if self.offload else 0)
            if self.offload:
                # A GSO packet plus its header must fit one UDP datagram.
                tun.set_gso_max_size(self.dev, self.ns, MAX_DATAGRAM - 28 - self.hdr)
            if self.udp_gso:
                self.segment = call_in(self.ns, self._segment_size)
                if not self.segment:
                    self.udp_gso = False
        except BaseException:
            self.close()
            raise

    def _socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.local[0] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            for opt, force in ((socket.SO_SNDBUF, 32), (socket.SO_RCVBUF, 33)):
                try:
                    s.setsockopt(socket.SOL_SOCKET, force, SOCK_BUF)  # SO_SNDBUFFORCE / SO_RCVBUFFORCE
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, opt, SOCK_BUF)
            if family == socket.AF_INET:
                # Let the kernel fragment big datagrams instead of failing with EMSGSIZE.
                s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            if self.gro:
                self._set_gro(s)
            s.bind(self.local)
            if self.remote is not None and not self.routes:
                s.connect(self.remote)
        except OSError as e:
            s.close()
            raise BackendError(f"cannot bind the tunnel's UDP socket to {self.local[0]}:{self.local[1]}",
                                   e.errno or 0, "check --local: the address must be on this node") from None
        return s

    def _set_gro(self, s: socket.socket) -> None:
        try:
            s.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
        except OSError as e:
            if not self.gro:
                return
            self.gro = self.udp_gso = False
            self.note(f"the kernel lacks UDP_GRO ({errno.errorcode.get(e.errno or 0, e.errno)}): packets go as IP "
                      "fragments")

    def note(self, text: str) -> None:
        """Something the operator should know (printed by run's on_note), said once."""
        if text not in self.notes:
            self.notes.append(text)

    def _segment_size(self) -> int:
        """UDP payload per underlay packet: the path MTU to the first peer less the IP and UDP headers (0: no UDP GSO)."""
        peer = self.remote or self.routes[0].endpoint
        family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 1400)
            except OSError as e:
                self.note(f"the kernel lacks UDP_SEGMENT ({errno.errorcode.get(e.errno or 0, e.errno)}): packets go "
                          "as IP fragments")
                return 0
            try:
                probe.connect(peer)
                mtu = probe.getsockopt(socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP,
                                       IPV6_MTU if family == socket.AF_INET6 else IP_MTU)
            except OSError as e:
                raise BackendError(f"cannot find the path MTU to {peer[0]}", e.errno or 0,
                                   "check the underlay route to the peer") from None
        return mtu - (48 if family == socket.AF_INET6 else 28)

    def start(self) -> None:
        """Start two worker threads per queue."""
        self.started = time.monotonic()
        for fd, sock in zip(self.fds, self.socks, strict=True):
            tx, rx = Counters(), Counters()
            self.counters.append((tx, rx))
            connected = self.remote is not None and not self.routes
            send_loop = self._tun_to_udp_gso if self.udp_gso else self._tun_to_udp
            recv_loop = self._udp_to_tun_whole if self.offload else self._udp_to_tun
            for loop, args in ((send_loop, (fd, sock, tx, connected)), (recv_loop, (fd, sock, rx))):
                t = threading.Thread(target=self._pump, args=(loop, args), daemon=True, name=f"tunnel-{self.dev}")
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(loop: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Run a forwarding loop; a transient error (EIO from a tun that is down, ECONNREFUSED
        from an ICMP port-unreachable...) is counted and the loop resumes; any other ends it."""
        c: Counters = args[2]
        while True:
            try:
                loop(*args)
            except OSError as e:
                if e.errno in tun.VANISHED:
                    c.last_error = DEVICE_GONE  # deleted under us: an end, not a failure
                    return
                if e.errno not in TRANSIENT:
                    c.last_error = f"{os.strerror(e.errno or 0)} (fatal)"
                    return
                c.failed(e)

    def _tun_to_udp(self, fd: int, sock: socket.socket, c: Counters, connected: bool) -> None:
        buf = bytearray(65536 + self.hdr)
        mv = memoryview(buf)
        readinto, hdr = open(fd, "rb", buffering=0, closefd=False).readinto, self.hdr
        send, sendto, lookup = sock.send, sock.sendto, self.router.lookup
        while True:
            n = readinto(buf)
            if connected:
                send(mv[:n])
            else:
                ep = lookup(mv[hdr:n])
                if ep is None:
                    c.dropped += 1
                    continue
                sendto(mv[:n], ep)
            c.packets += 1
            c.bytes += n - hdr

    def _udp_to_tun(self, fd: int, sock: socket.socket, c: Counters) -> None:
        buf = bytearray(65536 + self.hdr)
        mv = memoryview(buf)
        recv_into, write, hdr = sock.recv_into, os.write, self.hdr
        minimum = hdr + 20
        while True:
            n = recv_into(buf)
            if n < minimum:
                c.dropped += 1
                continue
            write(fd, mv[:n])
            c.packets += 1
            c.bytes += n - hdr

    def _tun_to_udp_gso(self, fd: int, sock: socket.socket, c: Counters, connected: bool) -> None:
        # One sendmsg per GSO packet: the kernel cuts it into MTU-sized UDP datagrams (UDP_SEGMENT)
        # and, on a veth, carries them as one skb to the peer's UDP_GRO socket, which gets it whole.
        buf = bytearray(65536 + self.hdr)
        mv = memoryview(buf)
        readinto, hdr, seg = open(fd, "rb", buffering=0, closefd=False).readinto, self.hdr, self.segment
        # The last datagram must be shorter than the others, so that GRO never joins two packets.
        cmsgs = {size: [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))] for size in (seg, seg - 1)}
        sendmsg, lookup, off, peer = sock.sendmsg, self.router.lookup, self.gso_off, self.remote
        while True:
            n = readinto(buf)
            if connected:
                ep = None
            else:
                ep = lookup(mv[hdr:n])
                if ep is None:
                    c.dropped += 1
                    continue
            # A peer that gets the datagrams in pieces asked for one datagram per packet (IP fragments).
            anc = cmsgs[seg if n % seg else seg - 1] if n > seg and not (off and (ep or peer) in off) else []
            try:
                if ep is None:
                    sendmsg([mv[:n]], anc)
                else:
                    sendmsg([mv[:n]], anc, 0, ep)
            except OSError as e:
                if not anc or e.errno not in (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP):
                    raise
                # the route's device cannot segment UDP: carry this and later packets as IP fragments
                where = ep or peer
                self.gso_off.add(where)  # type: ignore[arg-type]
                self.note(f"UDP GSO towards {where[0]}:{where[1]} failed ({errno.errorcode.get(e.errno or 0)}): "  # type: ignore[index]
                          "sending IP fragments instead")
                continue
            c.packets += 1
            c.bytes += n - hdr

    def _udp_to_tun_whole(self, fd: int, sock: socket.socket, c: Counters) -> None:
        # Only a whole packet is written: its length must be what its IP header says. A packet
        # the underlay delivered in pieces (no GRO on the way) is dropped and counted, and after
        # a few the sender is asked to send IP fragments instead.
        buf = bytearray(65536 + self.hdr)
        mv = memoryview(buf)
        recv_from, write, hdr = sock.recvfrom_into, os.write, self.hdr
        v4_len, v6_len = slice(hdr + 2, hdr + 4), slice(hdr + 4, hdr + 6)
        pieces: dict[tuple[str, int], int] = {}
        while True:
            n, addr = recv_from(buf)
            version = buf[hdr] >> 4 if n >= hdr + 20 else 0
            if version == 4:
                want = hdr + int.from_bytes(buf[v4_len], "big")
            elif version == 6:
                want = hdr + 40 + int.from_bytes(buf[v6_len], "big")
            else:
                want = -1
            if n != want:
                self._not_whole(sock, c, mv[:n], addr[:2], pieces)
                continue
            write(fd, mv[:n])
            c.packets += 1
            c.bytes += n - hdr

    def _not_whole(self, sock: socket.socket, c: Counters, data: memoryview, addr: tuple[str, int],
                   pieces: dict[tuple[str, int], int]) -> None:
        if data == NO_GSO:
            if addr in self.peers and addr not in self.gso_off and self.udp_gso:
                self.gso_off.add(addr)
                self.note(f"peer {addr[0]}:{addr[1]} receives UDP GSO packets in pieces: sending IP fragments instead")
            return
        c.dropped += 1
        got = pieces[addr] = pieces.get(addr, 0) + 1
        if addr in self.peers and got % PIECES_BEFORE_ASKING == 0:
            if got == PIECES_BEFORE_ASKING:
                self.note(f"UDP GSO packets from {addr[0]}:{addr[1]} arrive in pieces (the underlay does not keep "
                          "them whole): asking the peer for IP fragments instead")
            sock.sendto(NO_GSO, addr)

    def describe(self) -> str:
        """One line: what the tunnel joins and how."""
        peer = f" -> {self.remote[0]}:{self.remote[1]}" if self.remote else ""
        gso = f", udp gso {self.segment}" if self.udp_gso else (", ip fragments" if self.offload else "")
        return (f"tunnel {self.dev} <-> udp {self.local[0]}:{self.local[1]}{peer} ({len(self.routes)} routes, "
                f"{self.queues} queue(s), offload {'on' if self.offload else 'off'}{gso})")

    def alive(self) -> bool:
        """True while every worker thread runs."""
        return all(t.is_alive() for t in self.threads)

    def stats(self) -> TunnelStats:
        """Counters summed over queues (a consistent-enough snapshot)."""
        out = TunnelStats(seconds=time.monotonic() - self.started if self.started else 0.0)
        for tx, rx in self.counters:
            for total, part in ((out.tx, tx), (out.rx, rx)):
                total.packets += part.packets
                total.bytes += part.bytes
                total.errors += part.errors
                total.dropped += part.dropped
                total.last_error = part.last_error or total.last_error
                for k, v in part.by_errno.items():
                    total.by_errno[k] = total.by_errno.get(k, 0) + v
        return out

    def close(self) -> None:
        """Close sockets and tun fds (worker threads are daemons and die with the process)."""
        for s in self.socks:
            s.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.socks, self.fds = [], []


def serve(dev: str, local: str, remote: str | None, routes: list[str], netns: str | None = None, queues: int = 1,
          offload: bool = True, udp_gso: bool | None = None, count: int | None = None,
          on_ready: Callable[[Tunnel], None] | None = None, on_note: Callable[[str], None] | None = None) -> TunnelStats:
    """Parse the endpoints and routes, then run a tunnel until SIGINT/SIGTERM (or count); the totals."""
    t = Tunnel(dev, parse_endpoint(local), parse_endpoint(remote) if remote else None,
               [parse_route(r) for r in routes], netns, queues, offload, udp_gso)
    return run(t, count=count, on_ready=(lambda: on_ready(t)) if on_ready else None, on_note=on_note)


def run(tunnel: Tunnel, stop: threading.Event | None = None, count: int | None = None, poll: float = 0.2,
        on_ready: Callable[[], None] | None = None, on_note: Callable[[str], None] | None = None) -> TunnelStats:
    """Open and start the tunnel, wait until SIGINT/SIGTERM, stop, count packets (both ways) or its device is deleted.

    on_note(text) is told what the tunnel changed on its own (a fallback from UDP GSO to IP fragments).
    """
    if stop is None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    tunnel.open()
    said = 0

    def tell() -> None:
        nonlocal said
        for text in tunnel.notes[said:]:
            if on_note:
                on_note(text)
        said = len(tunnel.notes)
    try:
        tell()
        tunnel.start()
        if on_ready:
            on_ready()
        while not stop.wait(poll):
            tell()
            if not tunnel.alive():
                break
            if count is not None:
                st = tunnel.stats()
                if st.tx.packets + st.rx.packets >= count:  # both ways together: one-way traffic ends too
                    break
        tell()
        st = tunnel.stats()
        if not tunnel.alive() and DEVICE_GONE not in (st.tx.last_error, st.rx.last_error):
            why = st.tx.last_error if "fatal" in st.tx.last_error else st.rx.last_error
            raise Failed(f"tunnel {tunnel.dev} stopped: {why}", "check the tun device and the UDP socket")
        return st
    finally:
        tunnel.close()
