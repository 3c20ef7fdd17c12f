"""Firewall counters of a namespace (iptables-save -c, nft list ruleset), to see which DROP/REJECT rules a probe moved."""

from __future__ import annotations

import re
import shutil
import subprocess

from .netns import NsRef

_IPT_RULE = re.compile(r"^\[(\d+):\d+\] (-A \S+ .*-j (DROP|REJECT)\b.*)$")
_NFT_RULE = re.compile(r"^\s*(.*\bcounter packets (\d+) bytes \d+.*\b(drop|reject)\b.*)$")


def tools() -> list[str]:
    """The firewall dumpers installed here: iptables-save and/or nft."""
    return [t for t in ("iptables-save", "nft") if shutil.which(t)]


def _run(ns: NsRef | None, argv: list[str]) -> str:
    cmd = (["nsenter", f"--net={ns.path}"] if ns is not None else []) + argv
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def drop_counters(ns: NsRef | None) -> dict[str, int]:
    """Packets counted by each DROP/REJECT rule of the namespace, keyed by the rule as its tool prints it."""
    out: dict[str, int] = {}
    have = tools()
    if "iptables-save" in have:
        table = ""
        for line in _run(ns, ["iptables-save", "-c"]).splitlines():
            if line.startswith("*"):
                table = line[1:]
            m = _IPT_RULE.match(line)
            if m:
                out[f"iptables -t {table} {m.group(2)}"] = int(m.group(1))
    if "nft" in have:
        chain = ""
        for line in _run(ns, ["nft", "list", "ruleset"]).splitlines():
            if line.strip().startswith(("chain ", "table ")):
                chain = (chain.split(" / ")[0] + " / " if line.strip().startswith("chain ") else "") + line.strip(" {")
            m = _NFT_RULE.match(line)
            if m:
                rule = re.sub(r"counter packets \d+ bytes \d+", "counter", m.group(1).strip())
                out[f"nft {chain.strip()}: {rule}"] = int(m.group(2))
    return out


def moved(before: dict[str, int], after: dict[str, int]) -> list[tuple[str, int]]:
    """Rules whose counters grew between two readings, with by how many packets."""
    return [(rule, n - before.get(rule, 0)) for rule, n in after.items() if n > before.get(rule, 0)]
