"""A lab's self-checks, run with the tools an operator would use: ping, tcpdump, dhclient, inspect."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backend import netns as nsb
from ..backend import process as procb
from ..errors import VnetError
from . import paths
from .spec import Check, LabSpec

TOOLS = {"ping": "iputils-ping", "tcpdump": "tcpdump", "dhclient": "isc-dhcp-client", "dnsmasq": "dnsmasq",
         "ip": "iproute2", "iperf3": "iperf3", "ethtool": "ethtool"}
PATTERNS = {"arp request": r"\bARP, Request\b", "arp reply": r"\bARP, Reply\b",
            "icmp echo request": r"\bICMP echo request\b", "icmp echo reply": r"\bICMP echo reply\b",
            "dhcp discover": r"DHCP.*Discover|BOOTP/DHCP, Request", "dhcp offer": r"DHCP.*Offer|BOOTP/DHCP, Reply"}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    kind: str
    ok: bool
    detail: str
    seconds: float


def in_ns(netns: str | None, argv: list[str]) -> list[str]:
    """argv run inside a named namespace (as `ip netns exec` does), or here."""
    return (["ip", "netns", "exec", netns] if netns else []) + argv


def command_of(check: Check) -> str:
    """A check as the command line (or lines) an operator would type."""
    a = check.args
    if check.kind == "ping":
        return shlex.join(in_ns(a["from"], _ping_argv(a)))
    if check.kind == "capture":
        trig = a["trigger"]["ping"]
        return (shlex.join(in_ns(a["netns"], ["tcpdump", "-p", "-n", "-l", "-i", a["dev"]])) + " & "
                + shlex.join(in_ns(trig["from"], _ping_argv(trig))) + "  # expect: " + ", ".join(a["expect"]))
    if check.kind == "dhcp":
        return shlex.join(in_ns(a["netns"], ["dhclient", "-1", "-d", "-v", "-sf", "/bin/true", a["dev"]]))
    if check.kind == "port":
        return f"# {a['proto']} port {a['port']} {a['expect']} in {a['netns'] or 'the host namespace'}"
    if check.kind == "output":
        trig = (a["trigger"] or {}).get("ping")
        return ((shlex.join(in_ns(trig["from"], _ping_argv(trig))) + "; " if trig else "")
                + shlex.join(["grep", "-cP", a["match"], a["log"]]) + f"  # expect: at least {a['count']}")
    if check.kind == "holders":
        iff = shlex.quote("iff:\\s+" + a["dev"].replace(".", "\\."))
        return (shlex.join(["cat", a["pid_file"]]) + f"; grep -sHxP {iff} /proc/[0-9]*/fdinfo/*"
                + f"  # expect: the pid of process {a['process']}")
    if check.kind == "peer":
        return shlex.join(in_ns(a["netns"], ["ethtool", "-S", a["dev"]])) + f"  # peer: {a['expect']['name']}"
    return shlex.join(in_ns(a["netns"], ["ethtool", "-i", a["dev"]]))


def _ping_argv(a: dict[str, Any]) -> list[str]:
    return ["ping", "-c", str(a["count"]), "-i", "0.2", "-W", str(a["timeout"]), a["to"]]


def run_checks(spec: LabSpec, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check of the lab in file order; a check that errors counts as failed."""
    out = []
    for check in spec.checks:
        t0 = time.monotonic()
        try:
            ok, detail = RUNNERS[check.kind](check.args, spec)
        except VnetError as e:
            ok, detail = False, e.line()
        except (OSError, subprocess.SubprocessError) as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        result = CheckResult(check.name, check.kind, ok, detail, round(time.monotonic() - t0, 3))
        out.append(result)
        if on_result:
            on_result(result)
    return out


def _tool(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise VnetError(f"{argv[0]} is not installed", f"install the Debian package {TOOLS.get(argv[0], argv[0])}") from None


def check_ping(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """ping from a namespace; passes when the outcome is the expected one."""
    proc = _tool(in_ns(a["from"], _ping_argv(a)), timeout=a["count"] * (a["timeout"] + 1) + 5)
    summary = next((ln for ln in proc.stdout.splitlines() if "transmitted" in ln), proc.stderr.strip() or "no output")
    got = "success" if proc.returncode == 0 else "failure"
    return got == a["expect"], f"{a['to']}: {summary} (expected {a['expect']})"


def check_port(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """A TCP port accepts a connection (from inside the namespace), or a UDP port is bound there."""
    ns = nsb.resolve(a["netns"])
    if a["proto"] == "tcp":
        got = procb.connects(ns, a["host"], a["port"])
        what = f"tcp {a['host']}:{a['port']} {'accepts connections' if got else 'refuses connections'}"
    else:
        got = procb.listening(ns, a["port"], "udp")
        what = f"udp port {a['port']} {'is bound' if got else 'is not bound'}"
    return got == (a["expect"] == "open"), what + f" (expected {a['expect']})"


def check_dhcp(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """dhclient in the namespace obtains a lease (and, with server, it is in that server's lease file)."""
    run = paths.run_dir(spec.name)
    os.makedirs(run, mode=0o700, exist_ok=True)
    tag = f"dhclient-{a['netns'] or 'host'}-{a['dev']}"
    lease_file, pid_file = os.path.join(run, tag + ".leases"), os.path.join(run, tag + ".pid")
    for path in (lease_file, pid_file):
        if os.path.lexists(path):
            os.unlink(path)
    argv = in_ns(a["netns"], ["dhclient", "-1", "-d", "-v", "-lf", lease_file, "-pf", pid_file, "-sf", "/bin/true",
                              a["dev"]])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=run)
    except FileNotFoundError:
        raise VnetError("ip is not installed", "install the Debian package iproute2") from None
    lines: list[str] = []
    bound = _read_until(proc, lines, re.compile(r"bound to (\S+)"), a["timeout"])
    procb.stop(proc.pid, procb.start_time(proc.pid), timeout=2)
    proc.wait()
    if bound is None:
        got = "failure"
        detail = "no lease: " + (" | ".join(lines[-2:]) or "no output")
    else:
        got = "success"
        detail = f"lease {bound} on {a['dev']}"
        if a["server"]:
            leases = _server_lease_file(spec, a["server"])
            found = leases is not None and _wait(lambda: bound in _read(leases), 3.0)
            detail += f"; {'in' if found else 'NOT in'} {a['server']}'s lease file {leases}"
            if not found:
                return False, detail
    return got == a["expect"], detail + f" (expected {a['expect']})"


def _server_lease_file(spec: LabSpec, server: str) -> str | None:
    proc = next(p for p in spec.processes if p.name == server)
    for i, word in enumerate(proc.argv):
        if word.startswith("--dhcp-leasefile="):
            return word.split("=", 1)[1]
        if word in ("-l", "--dhcp-leasefile") and i + 1 < len(proc.argv):
            return proc.argv[i + 1]
    return None


def check_capture(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """tcpdump on a device sees the expected packets, in order, when the trigger runs."""
    trig = a["trigger"]["ping"]
    argv = in_ns(a["netns"], ["tcpdump", "-p", "-n", "-l", "-i", a["dev"]])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise VnetError("ip is not installed", "install the Debian package iproute2") from None
    lines: list[str] = []
    try:
        err: list[str] = []
        if _read_until(proc, err, re.compile(r"listening on"), 10.0, stream="stderr") is None:
            return False, "tcpdump did not start: " + (" | ".join(err[-2:]) or "no output")
        # Empty the lab namespaces' neighbour caches, so the trigger has to resolve the peer
        # with ARP again (never the host's: it is not the lab's to change).
        for ns in {trig["from"], a["netns"]} - {None}:
            _tool(["ip", "-n", ns, "neigh", "flush", "all"], timeout=5)
        ping = _tool(in_ns(trig["from"], _ping_argv(trig)), timeout=trig["count"] * (trig["timeout"] + 1) + 5)
        patterns = [re.compile(PATTERNS.get(p.lower(), p)) for p in a["expect"]]
        matched = _read_until(proc, lines, None, a["timeout"], ordered=patterns)
    finally:
        procb.stop(proc.pid, procb.start_time(proc.pid), timeout=2)
        proc.wait()
    seen = _ordered(lines, patterns)
    detail = f"saw {seen}/{len(patterns)} in order ({', '.join(a['expect'][:seen]) or 'none'})" + \
        f"; trigger ping {'ok' if ping.returncode == 0 else 'failed'}; {len(lines)} packets"
    return bool(matched), detail


def _ordered(lines: list[str], patterns: list[re.Pattern[str]]) -> int:
    k = 0
    for line in lines:
        if k < len(patterns) and patterns[k].search(line):
            k += 1
    return k


def _read_until(proc: subprocess.Popen[str], lines: list[str], pattern: re.Pattern[str] | None, timeout: float,
                stream: str = "stdout", ordered: list[re.Pattern[str]] | None = None) -> str | None:
    """Read a child's lines until pattern matches (its group 1, or the line) or ordered all match."""
    f = proc.stdout if stream == "stdout" else proc.stderr
    assert f is not None
    deadline = time.monotonic() + timeout
    buf = ""
    fd = f.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if not r:
            continue
        chunk = os.read(fd, 65536).decode(errors="replace")
        if not chunk:
            return None
        buf += chunk
        *done, buf = buf.split("\n")
        for line in done:
            lines.append(line)
            if pattern is not None:
                m = pattern.search(line)
                if m:
                    return m.group(1) if m.groups() else line
        if ordered is not None and _ordered(lines, ordered) == len(ordered):
            return "matched"
    return None


def check_peer(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """inspect finds the veth's peer by name and namespace."""
    dev = _inspect_device(a["dev"], a["netns"])
    peer = dev.peer
    if peer is None:
        return False, f"{a['dev']} has no peer according to inspect"
    want = a["expect"]
    want_ns = nsb.resolve(want["netns"]).inode if want["netns"] else nsb.current_inode()  # type: ignore[union-attr]
    where = peer.netns_name or ("the host namespace" if peer.netns_inode == nsb.current_inode() else
                                (f"namespace inode {peer.netns_inode}" if peer.netns_inode else "an unknown namespace"))
    ok = peer.name == want["name"] and peer.netns_inode == want_ns
    return ok, f"peer of {a['dev']} is {peer.name} (ifindex {peer.ifindex}) in {where}; expected {want['name']} in " \
        + (want["netns"] or "the host namespace")


def check_driver(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """The device's driver and bus-info (ETHTOOL_GDRVINFO, as `ethtool -i`) are the expected ones."""
    dev = _inspect_device(a["dev"], a["netns"])
    got = {"driver": dev.driver, "bus_info": dev.bus_info}
    bad = [f"{k} {got[k]!r} (expected {a[k]!r})" for k in ("driver", "bus_info") if a[k] is not None and got[k] != a[k]]
    return not bad, "; ".join(bad) if bad else f"driver {dev.driver}, bus-info {dev.bus_info}"


def check_output(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """A lab process's log has at least count lines matching the pattern (written after the trigger, if any)."""
    log, pattern, trig = a["log"], re.compile(a["match"]), (a["trigger"] or {}).get("ping")
    if not os.path.exists(log):
        return False, f"process {a['process']!r} has no log {log}; is the lab up?"
    start = os.path.getsize(log) if trig else 0  # with a trigger, only what it caused counts
    ping = _tool(in_ns(trig["from"], _ping_argv(trig)), timeout=trig["count"] * (trig["timeout"] + 1) + 5) \
        if trig else None
    found: list[str] = []

    def matched() -> bool:
        lines = _read_from(log, start).split("\n")[:-1]  # a line still being written is not yet counted
        found[:] = [ln for ln in lines if pattern.search(ln)]
        return len(found) >= a["count"]

    ok = _wait(matched, a["timeout"])
    detail = f"{len(found)} line(s) of {a['process']}'s output match (expected at least {a['count']})"
    if found:
        detail += f"; last: {found[-1].strip()}"
    elif not ok:
        detail += f"; its output ends: {_tail(_read_from(log, start))}"
    if ping is not None:
        detail += f"; trigger ping {'ok' if ping.returncode == 0 else 'failed'}"
    return ok, detail


def check_holders(a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
    """inspect finds the lab process (by the pid the lab recorded) among the tun/tap device's holders."""
    try:
        with open(a["pid_file"]) as f:
            rec = json.load(f)
        pid = int(rec["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"process {a['process']!r} has no readable pid file {a['pid_file']}; is the lab up?"
    if not procb.alive(pid, rec.get("start")):
        return False, f"process {a['process']!r} (pid {pid}) is not running"
    dev = _inspect_device(a["dev"], a["netns"])
    held = ", ".join(f"{h.comm} pid {h.pid} fd {h.fd}" for h in dev.holders) or "nobody"
    ok = any(h.pid == pid for h in dev.holders)
    return ok, f"{a['dev']} is held by {held}; expected {a['process']} (pid {pid})"


def _read_from(path: str, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-2:]) or "nothing"


def _inspect_device(dev: str, netns: str | None) -> Any:
    try:
        from .. import inspect
    except ImportError:
        raise VnetError("vnetctl.inspect is not available", "this check needs the inspect module") from None
    return inspect.device(dev, netns)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


RUNNERS: dict[str, Callable[[dict[str, Any], LabSpec], tuple[bool, str]]] = {
    "ping": check_ping, "port": check_port, "dhcp": check_dhcp, "capture": check_capture,
    "peer": check_peer, "driver": check_driver, "output": check_output, "holders": check_holders,
}
