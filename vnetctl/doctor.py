"""What this host supports, and the classic host settings that silently break lab traffic.

Each check is one row {check, ok, status, detail, fix}: status is ok, missing (something labs need
is absent), warning (a setting that drops lab traffic without an error) or note (worth knowing,
often fine); fix is the command that repairs it, or None. ok is false for missing and warning.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from . import kinds
from .backend import hostconf, kernel
from .backend.privilege import has_cap
from .backend.tun import tun_path
from .tools import TOOLS

STATUSES = ("ok", "missing", "warning", "note")


def _row(check: str, status: str, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"check": check, "ok": status in ("ok", "note"), "status": status, "detail": detail, "fix": fix}


def run_checks() -> list[dict[str, Any]]:
    """One row per check, in a stable order: privileges, /dev/net/tun, device kinds, tools, traps."""
    out = [_capability(cap) for cap in ("CAP_NET_ADMIN", "CAP_SYS_ADMIN")]
    path = tun_path()
    out.append(_row("/dev/net/tun", "ok", path) if os.path.exists(path)
               else _row("/dev/net/tun", "missing", "missing: tun/tap devices cannot be made", "modprobe tun"))
    out += [_kind(kind) for kind in kinds.all_kinds()]
    out += [_tool(tool, package, purpose) for tool, (package, purpose) in TOOLS.items()]
    out += [_bridge_nf("iptables", "net.bridge.bridge-nf-call-iptables"),
            _bridge_nf("ip6tables", "net.bridge.bridge-nf-call-ip6tables"),
            _ip_forward(), _rp_filter()]
    return out


def _capability(cap: str) -> dict[str, Any]:
    if has_cap(cap):
        return _row(cap, "ok", "present")
    return _row(cap, "missing", "missing: changes will exit 77", "run vnetctl as root (sudo)")


def _kind(kind: kinds.Kind) -> dict[str, Any]:
    if kernel.supports(kind.name):
        return _row(f"kind {kind.name}", "ok", "supported")
    return _row(f"kind {kind.name}", "missing", f"kernel lacks {kind.module}: {kind.name} devices exit 69")


def _tool(tool: str, package: str, purpose: str) -> dict[str, Any]:
    where = shutil.which(tool)
    if where:
        return _row(f"tool {tool}", "ok", where)
    return _row(f"tool {tool}", "missing", f"not installed: needed for {purpose}", f"apt-get install {package}")


def _bridge_nf(tool: str, key: str) -> dict[str, Any]:
    """br_netfilter hands bridged frames to iptables' FORWARD chain; with a DROP policy (Docker's) they vanish."""
    name = key.rsplit(".", 1)[1]
    value = hostconf.sysctl(key)
    if value is None:
        return _row(name, "ok", f"br_netfilter not loaded: bridged frames bypass {tool}")
    if value == "0":
        return _row(name, "ok", f"0: bridged frames bypass {tool}")
    chain = hostconf.forward(tool)
    if chain is None:
        return _row(name, "note", f"{value}: bridged frames go through {tool} FORWARD, and {tool} is not installed "
                    "to read its policy", "apt-get install iptables")
    if chain.policy is None:
        return _row(name, "note", f"{value}: bridged frames go through {tool} FORWARD, whose policy could not be read"
                    f" ({chain.error})", "run vnetctl doctor as root")
    if chain.policy != "DROP":
        return _row(name, "ok", f"{value}, {tool} FORWARD policy {chain.policy}: bridged frames pass unless a rule drops them")
    where, docker = ("DOCKER-USER", " (Docker's DOCKER-USER chain is here)") if chain.docker_user else ("FORWARD", "")
    return _row(name, "warning",
                f"{value} and {tool} FORWARD policy DROP{docker}: frames between "
                "lab namespaces on a bridge are dropped silently unless a rule accepts them",
                f"sysctl -w {key}=0 (when nothing here filters bridged frames on purpose), or for each lab bridge BR: "
                f"{tool} -I {where} -i BR -o BR -j ACCEPT")


def _ip_forward() -> dict[str, Any]:
    value = hostconf.sysctl("net.ipv4.ip_forward")
    if value != "0":
        return _row("ip_forward", "ok", f"{value}: this namespace routes between its interfaces")
    return _row("ip_forward", "note", "0: this namespace does not route; a routed lab sets it in its router namespaces "
                "(sysctls: {net.ipv4.ip_forward: 1}), but lab traffic routed through this namespace (to the outside, "
                "or a lab whose router is this host) is dropped", "sysctl -w net.ipv4.ip_forward=1")


def _rp_filter() -> dict[str, Any]:
    """A device's rp_filter is max(all, its own); new devices take default's, new namespaces the initial namespace's."""
    values = {k: hostconf.sysctl(f"net.ipv4.conf.{k}.rp_filter") for k in ("all", "default")}
    said = ", ".join(f"{k}={v}" for k, v in values.items())
    if "1" not in values.values():
        mode = "off" if set(values.values()) <= {"0", None} else "loose"
        return _row("rp_filter", "ok", f"{said}: {mode}")
    return _row("rp_filter", "warning",
                f"{said}: strict; a packet arriving on an interface other than the one the route back to its source "
                "leaves by is dropped silently (asymmetric lab routes, tunnels, namespaces with two uplinks)",
                "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 (loose)")
