"""Try something in a throwaway network namespace: how vnetctl probes what the kernel has, touching nothing real."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def in_scratch_namespace(probe: Callable[[], T]) -> T | None:
    """Run probe in a thread unshared into a new, empty network namespace (None: it could not be made).

    The namespace and whatever the probe made die with the thread.
    """
    result: list[T | None] = [None]
    libc = ctypes.CDLL(None, use_errno=True)

    def run() -> None:
        if libc.unshare(CLONE_NEWNET) == 0:
            result[0] = probe()

    t = threading.Thread(target=run, name="vnetctl-scratch")
    t.start()
    t.join()
    return result[0]
