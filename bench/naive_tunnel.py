#!/usr/bin/env python3
"""The baseline: a naive user-space UDP tunnel, one packet per syscall, as the articles' programs do.

One process, one thread, select() on the tun and the socket, read one packet, send one
datagram; receive one datagram, write one packet. No vnet_hdr, no offloads, no batching:
what a straightforward port of a C "read from tun, sendto peer" loop looks like in Python.

Usage (inside the node's namespace): naive_tunnel.py DEV LOCAL_IP:PORT REMOTE_IP:PORT
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main(argv: list[str]) -> int:
    """Run the loop until SIGINT/SIGTERM; print packet counts on stderr."""
    dev, local, remote = argv
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", dev.encode(), IFF_TUN | IFF_NO_PI))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lhost, lport = local.rsplit(":", 1)
    rhost, rport = remote.rsplit(":", 1)
    sock.bind((lhost, int(lport)))
    peer = (rhost, int(rport))
    counts = [0, 0]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            ready, _, _ = select.select([fd, sock], [], [])
            if fd in ready:
                sock.sendto(os.read(fd, 65536), peer)
                counts[0] += 1
            if sock in ready:
                data, _ = sock.recvfrom(65536)
                try:
                    os.write(fd, data)
                except OSError:
                    pass
                counts[1] += 1
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        print(f"naive tunnel {dev}: tun->udp {counts[0]} packets, udp->tun {counts[1]} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
