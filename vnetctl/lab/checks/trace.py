"""The `trace` check: vnetctl trace from a namespace, answered or vanishing with the expected verdict."""

from __future__ import annotations

import shlex
from typing import Any

from ...trace.model import REASONS
from ..schema import F
from ..spec import LabSpec
from . import CheckKind, register


def verdict_line(src: str | None, dst: str, proto: str = "icmp") -> tuple[str, str]:
    """Trace once: ('reached' or the verdict's reason, one line saying where and why)."""
    from ... import trace

    r = trace.run(src, dst, proto=proto)
    v = r.verdict
    if v is None:
        return "reached", "answered"
    return v.reason, f"{v.reason} at {v.device} in {v.netns}: {v.detail}"


@register
class Trace(CheckKind):
    """vnetctl trace from a namespace: the probe is answered, or vanishes with the expected verdict."""

    name = "trace"
    schema = {"from": F("netns"), "to": F("str", True), "proto": F("str", default="icmp"),
              "expect": F("str", default="reached", choices=("reached", *REASONS))}

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        got, what = verdict_line(a["from"], a["to"], a["proto"])
        return got == a["expect"], f"{what} (expected {a['expect']})"

    def command(self, a: dict[str, Any]) -> str:
        argv = ["vnetctl", "trace"] + (["-n", a["from"]] if a["from"] else []) + [a["to"], "--proto", a["proto"]]
        return shlex.join(argv) + f"  # expect: {a['expect']}"
