"""The tun/tap reader: what "Read 84 bytes from tun/tap device" programs do, with decoding and pcap."""

from __future__ import annotations

import os
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


def open_device(dev: str, mode: str, netns: str | None) -> int:
    """Attach to tun/tap dev in netns (creating a non-persistent one if missing); the fd."""
    if mode not in tun.MODES:
        raise UsageError(f"invalid mode {mode!r}", "use --mode tun or --mode tap")
    return tun.attach(dev, mode, resolve(netns))


def read(dev: str, mode: str = "tun", netns: str | None = None, count: int | None = None,
         on_packet: Callable[[Summary], None] | None = None, pcap: str | None = None,
         on_ready: Callable[[], None] | None = None) -> ReadStats:
    """Read packets from dev until count or SIGINT/SIGTERM; decode each for on_packet, append to pcap."""
    fd = open_device(dev, mode, netns)
    try:
        writer = PcapWriter(pcap, LINKTYPES[mode]) if pcap else None
    except OSError as e:
        os.close(fd)
        if isinstance(e, Refused):
            raise UsageError(f"refusing to write the capture file {pcap}: {e.strerror}",
                             "give a new path, or a regular file of your own (it is replaced, not written through)") from None
        raise Failed(f"cannot write the capture file {pcap}: {e.strerror}", "give a writable path") from None
    stats = ReadStats()
    start = time.monotonic()
    try:
        with stop_on_signals():
            if on_ready:
                on_ready()
            try:
                if on_packet is None and writer is None:
                    _drain(fd, count, stats)
                else:
                    _decode_loop(fd, mode == "tap", count, stats, on_packet, writer)
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
        os.close(fd)
    return stats


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


def _decode_loop(fd: int, l2: bool, count: int | None, stats: ReadStats,
                 on_packet: Callable[[Summary], None] | None, writer: PcapWriter | None) -> None:
    try:
        while count is None or stats.packets < count:
            data = os.read(fd, BUF_SIZE)
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
