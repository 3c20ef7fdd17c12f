"""`vnetctl trace`: predict a probe's path from kernel state, send it, capture it on every hop, say where it died.

    from vnetctl import trace
    result = trace.run("ha", "10.0.2.2", proto="icmp")
    result.verdict  # None when answered, else Verdict(netns, device, reason, detail, kernel_drop_reason)

The package is light to import (lab files name its verdict reasons); the kernel side loads with run().
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "run":
        from .runner import run

        return run
    raise AttributeError(name)
