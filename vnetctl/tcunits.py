"""tc's units: rates (10mbit, 125kbps), sizes (32kb, 15000), times (10ms, 1s), loss (1%); parsed and written back."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import UsageError

_NUM = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")
RATE_UNITS = {"": 1, "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "kibit": 2**10, "mibit": 2**20, "gibit": 2**30,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 2**20, "mb": 2**20, "kbit": 128, "mbit": 2**17}
TIME_UNITS = {"ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "us": 0.001, "usec": 0.001}
MAX_RATE = (2**32 - 1) * 8   # tbf's rate is 32 bits of bytes per second


def _number(text: str, units: Mapping[str, float], what: str, example: str) -> float:
    m = _NUM.match(text.strip())
    if not m or m.group(2).lower() not in units:
        raise UsageError(f"invalid {what} {text!r}", f"write it as tc does, e.g. {example}")
    return float(m.group(1)) * units[m.group(2).lower()]


def parse_rate(text: str) -> int:
    """A rate in bit/s from tc's spelling (10mbit, 125kbps); 'none' is 0 (no limit)."""
    if text.strip().lower() in ("none", "off", "0"):
        return 0
    bits = int(_number(text, RATE_UNITS, "rate", "10mbit, 1gbit or 500kbit"))
    if not 8 <= bits <= MAX_RATE:
        raise UsageError(f"rate {text!r} is out of range", f"give 8bit to {MAX_RATE // 10**9}gbit, or 'none' to remove it")
    return bits


def parse_size(text: str) -> int:
    """A size in bytes from tc's spelling (32kb, 1mb, 15000)."""
    size = int(_number(text, SIZE_UNITS, "burst", "32kb or 15000"))
    if not 1 <= size < 2**31:
        raise UsageError(f"burst {text!r} is out of range", "give 1 byte to 2gb, e.g. 32kb")
    return size


def parse_time(text: str, what: str) -> float:
    """A time in milliseconds from tc's spelling (10ms, 1s, 500us)."""
    ms = _number(text, TIME_UNITS, what, "10ms")
    if not 0 <= ms <= 60_000:
        raise UsageError(f"{what} {text!r} is out of range", "give 0 to 60s")
    return ms


def parse_loss(text: str) -> float:
    """A loss percentage from `1%` or `1`."""
    try:
        pct = float(text.strip().rstrip("%"))
    except ValueError:
        raise UsageError(f"invalid loss {text!r}", "give a percentage, e.g. 1%") from None
    if not 0 <= pct <= 100:
        raise UsageError(f"loss {text!r} is out of range", "give 0% to 100%")
    return pct


def rate_word(bits: int) -> str:
    """A rate in tc's words, exactly: 10mbit, 1500kbit, 12345bit."""
    for unit, size in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits % size == 0:
            return f"{bits // size}{unit}"
    return f"{bits}bit"
