"""The tun/tap reader: what "Read 84 bytes from tun/tap device" programs do, with decoding and pcap."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..backend import tun
from ..backend.netns import resolve
from ..errors import Failed, UsageError
from .packet import Summary, summarize
from .pcap import LINKTYPES, PcapWriter, Refused

BUF_SIZE = 65536 + 64


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler to end a program's loop cleanly."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into Stop inside the block (a blocking read is interrupted)."""
    def handler(signum: int, frame: object) -> None:
        raise Stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


VANISHED = "device deleted"


@dataclass
class ReadStats:
    """What the reader saw."""

    packets: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    @property
    def pps(self) -> float:
        """Packets per second over the run."""
        return self.packets / self.seconds if self.seconds > 0 else 0.0

    @property
    def bps(self) -> float:
        """Bits per second over the run."""
        return self.bytes * 8 / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The summary printed on stderr at exit."""
        return (f"{self.packets} packets, {self.bytes} bytes in {self.seconds:.2f} s "
                f"({self.pps:,.0f} packets/s, {self.bps / 1e6:,.2f} Mbit/s)"
                + ("; stopped: the device was deleted" if self.stopped_by == VANISHED else ""))


def open_queues(dev: str, mode: str | None, netns: str | None, queues: int = 1) -> tuple[str, list[int]]:
    """Attach `queues` fds to tun/tap dev in netns; its mode (the kernel's, for an existing device) and the fds.

    An existing device is attached as what it is: tun or tap, single- or multi-queue (IFLA_TUN_TYPE,
    IFLA_TUN_MULTI_QUEUE); a missing one is created non-persistent (tun unless mode says tap).
    """
    if mode is not None and mode not in tun.MODES:
        raise UsageError(f"invalid mode {mode!r}", "use --mode tun or --mode tap")
    ns = resolve(netns)
    found = tun.existing(dev, ns)
    if found is None:
        actual, multi_queue = mode or "tun", queues > 1
    else:
        actual, multi_queue = found
        if mode is not None and mode != actual:
            raise UsageError(f"{dev!r} is a {actual} device, not {mode}",
                             f"leave out --mode (it is detected), or attach with --mode {actual}")
        if queues > 1 and not multi_queue:
            raise UsageError(f"{dev!r} is a single-queue {actual} device: --queues {queues} needs a multi-queue one",
                             f"read it with --queues 1, or recreate it with "
                             f"'vnetctl tuntap add {dev} --mode {actual} --multi-queue'")
    return actual, tun.attach_queues(dev, actual, ns, queues, multi_queue=multi_queue)


def open_device(dev: str, mode: str | None, netns: str | None) -> int:
    """Attach one fd to tun/tap dev in netns (creating a non-persistent one if missing); the fd."""
    return open_queues(dev, mode, netns)[1][0]


def read(dev: str, mode: str | None = None, netns: str | None = None, count: int | None = None,
         on_packet: Callable[[Summary], None] | None = None, pcap: str | None = None,
         on_ready: Callable[[str], None] | None = None, queues: int = 1) -> ReadStats:
    """Read packets from dev's queues until count or SIGINT/SIGTERM; decode each for on_packet, append to pcap.

    mode None: the existing device's own (tun for one created here); on_ready gets the mode attached.
    """
    mode, fds = open_queues(dev, mode, netns, queues)
    try:
        writer = PcapWriter(pcap, LINKTYPES[mode]) if pcap else None
    except OSError as e:
        _close(fds)
        if isinstance(e, Refused):
            raise UsageError(f"refusing to write the capture file {pcap}: {e.strerror}",
                             "give a new path, or a regular file of your own (it is replaced, not written through)") from None
        raise Failed(f"cannot write the capture file {pcap}: {e.strerror}", "give a writable path") from None
    stats = ReadStats()
    start = time.monotonic()
    try:
        with stop_on_signals():
            if on_ready:
                on_ready(mode)
            try:
                if on_packet is None and writer is None and len(fds) == 1:
                    _drain(fds[0], count, stats)
                else:
                    _decode_loop(_packets(fds), mode == "tap", count, stats, on_packet, writer)
            except Stop as e:
                stats.stopped_by = str(e)
            except OSError as e:
                if e.errno not in tun.VANISHED:
                    raise
                stats.stopped_by = VANISHED
    finally:
        stats.seconds = time.monotonic() - start
        if writer:
            writer.close()
        _close(fds)
    return stats


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _packets(fds: list[int]) -> Iterator[bytes]:
    """Packets as they come from any of the queues' fds (one fd: plain blocking reads)."""
    if len(fds) == 1:
        while True:
            yield os.read(fds[0], BUF_SIZE)
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            yield os.read(fd, BUF_SIZE)


def _drain(fd: int, count: int | None, stats: ReadStats) -> None:
    # The hot loop: one preallocated buffer, no decoding, no per-packet allocation. An unbuffered
    # FileIO's readinto is the leanest read(2) Python has (measured faster than os.readv).
    buf = bytearray(BUF_SIZE)
    readinto = open(fd, "rb", buffering=0, closefd=False).readinto
    packets = nbytes = 0
    limit = count if count is not None else -1
    try:
        while packets != limit:
            nbytes += readinto(buf)
            packets += 1
    finally:
        stats.packets += packets
        stats.bytes += nbytes


def _decode_loop(packets: Iterator[bytes], l2: bool, count: int | None, stats: ReadStats,
                 on_packet: Callable[[Summary], None] | None, writer: PcapWriter | None) -> None:
    try:
        while count is None or stats.packets < count:
            data = next(packets)
            stats.packets += 1
            stats.bytes += len(data)
            if writer:
                writer.write(data)
            if on_packet:
                on_packet(summarize(data, l2))
            if writer and (on_packet is not None or stats.packets % 256 == 0):
                writer.flush()
    finally:
        if writer:
            writer.flush()
