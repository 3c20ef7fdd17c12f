"""Checks of traffic: ping, port, dhcp, capture."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import Any

from ...backend import netns as nsb
from ...backend import process as procb
from ...errors import VnetError
from .. import paths
from ..schema import F
from ..spec import LabSpec
from ..yamlload import Pos
from . import CheckContext, CheckKind, Outcome, register
from .tools import flush_neighbours, in_ns, matched_in_order, ping_argv, read, read_until, tool, wait

PATTERNS = {"arp request": r"\bARP, Request\b", "arp reply": r"\bARP, Reply\b",
            "icmp echo request": r"\bICMP echo request\b", "icmp echo reply": r"\bICMP echo reply\b",
            "dhcp discover": r"DHCP.*Discover|BOOTP/DHCP, Request", "dhcp offer": r"DHCP.*Offer|BOOTP/DHCP, Reply"}
SHOWN = 20  # captured lines a failed capture check shows (all of them are in its pcap)
PING = {"from": F("netns"), "to": F("ip", True), "count": F("int", default=1),
        "expect": F("str", default="success", choices=("success", "failure")), "timeout": F("int", default=2)}


@register
class Ping(CheckKind):
    """ping from a namespace; passes when the outcome is the expected one."""

    name = "ping"
    schema = PING

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        proc = tool(in_ns(a["from"], ping_argv(a)), timeout=a["count"] * (a["timeout"] + 1) + 5)
        summary = next((ln for ln in proc.stdout.splitlines() if "transmitted" in ln), proc.stderr.strip() or "no output")
        got = "success" if proc.returncode == 0 else "failure"
        detail = f"{a['to']}: {summary} (expected {a['expect']})"
        if got == "failure" != a["expect"]:
            from .trace import verdict_line

            try:
                detail += "; trace: " + verdict_line(a["from"], a["to"])[1]
            except (VnetError, OSError) as e:
                detail += f"; trace failed: {e}"
        return got == a["expect"], detail

    def command(self, a: dict[str, Any]) -> str:
        return shlex.join(in_ns(a["from"], ping_argv(a)))


@register
class Port(CheckKind):
    """A TCP port accepts a connection (from inside the namespace), or a UDP port is bound there."""

    name = "port"
    schema = {"netns": F("netns"), "port": F("int", True), "proto": F("str", default="tcp", choices=("tcp", "udp")),
              "host": F("ip", default="127.0.0.1"), "expect": F("str", default="open", choices=("open", "closed"))}

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        ns = nsb.resolve(a["netns"])
        if a["proto"] == "tcp":
            got = procb.connects(ns, a["host"], a["port"])
            what = f"tcp {a['host']}:{a['port']} {'accepts connections' if got else 'refuses connections'}"
        else:
            got = procb.listening(ns, a["port"], "udp")
            what = f"udp port {a['port']} {'is bound' if got else 'is not bound'}"
        return got == (a["expect"] == "open"), what + f" (expected {a['expect']})"

    def command(self, a: dict[str, Any]) -> str:
        return f"# {a['proto']} port {a['port']} {a['expect']} in {a['netns'] or 'the host namespace'}"


@register
class Dhcp(CheckKind):
    """dhclient in the namespace obtains a lease (and, with server, it is in that server's lease file)."""

    name = "dhcp"
    schema = {"netns": F("netns"), "dev": F("ifname", True), "server": F("str"), "timeout": F("int", default=20),
              "expect": F("str", default="success", choices=("success", "failure"))}

    def validate(self, args: dict[str, Any], ctx: CheckContext, at: Pos) -> bool:
        """The device is the lab's; the server, when named, is one of its processes."""
        ok = super().validate(args, ctx, at)
        if args["server"] and args["server"] not in ctx.processes:
            ctx.ck.add(at, f"dhcp check: server {args['server']!r} is not a process of the lab")
        return ok

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
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
        bound = read_until(proc, lines, re.compile(r"bound to (\S+)"), a["timeout"])
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
                found = leases is not None and wait(lambda: bound in read(leases), 3.0)
                detail += f"; {'in' if found else 'NOT in'} {a['server']}'s lease file {leases}"
                if not found:
                    return False, detail
        return got == a["expect"], detail + f" (expected {a['expect']})"

    def command(self, a: dict[str, Any]) -> str:
        return shlex.join(in_ns(a["netns"], ["dhclient", "-1", "-d", "-v", "-sf", "/bin/true", a["dev"]]))


@register
class Capture(CheckKind):
    """tcpdump on a device sees the expected packets, in order, when the trigger runs."""

    name = "capture"
    schema = {"netns": F("netns"), "dev": F("ifname", True), "trigger": F("obj", True, sub={"ping": F("obj", True, sub=PING)}),
              "expect": F("strlist", True), "timeout": F("int", default=10)}

    def validate(self, args: dict[str, Any], ctx: CheckContext, at: Pos) -> bool:
        """Every expected item is a known packet name or a regular expression."""
        where: dict[str, Pos] = getattr(args, "at", {})
        for item in args["expect"] or ():
            try:
                re.compile(PATTERNS.get(item.lower(), item))
            except re.error as e:
                ctx.ck.add(where.get("expect", at), f"capture check: expected item {item!r} is not a regular expression: {e}")
        return super().validate(args, ctx, at)

    def run(self, a: dict[str, Any], spec: LabSpec) -> Outcome:
        trig = a["trigger"]["ping"]
        pcap = _pcap_path(spec, a)
        argv = in_ns(a["netns"], ["tcpdump", "-p", "-n", "-l", "-U", "-Z", "root", "-w", pcap, "--print", "-i", a["dev"]])
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    umask=0o077)
        except FileNotFoundError:
            raise VnetError("ip is not installed", "install the Debian package iproute2") from None
        lines: list[str] = []
        try:
            err: list[str] = []
            if read_until(proc, err, re.compile(r"listening on"), 10.0, stream="stderr") is None:
                return False, "tcpdump did not start: " + (" | ".join(err[-2:]) or "no output")
            # Empty the neighbour caches of every lab namespace, routers on the path included, so the
            # trigger resolves each hop with ARP again (never the host's: it is not the lab's to change).
            flush_neighbours(sorted({ns.name for ns in spec.namespaces} | ({trig["from"], a["netns"]} - {None})))
            ping = tool(in_ns(trig["from"], ping_argv(trig)), timeout=trig["count"] * (trig["timeout"] + 1) + 5)
            patterns = [re.compile(PATTERNS.get(p.lower(), p)) for p in a["expect"]]
            matched = read_until(proc, lines, None, a["timeout"], ordered=patterns)
        finally:
            procb.stop(proc.pid, procb.start_time(proc.pid), timeout=2)
            proc.wait()
        seen = matched_in_order(lines, patterns)
        detail = f"saw {seen}/{len(patterns)} in order ({', '.join(a['expect'][:seen]) or 'none'})" + \
            f"; trigger ping {'ok' if ping.returncode == 0 else 'failed'}; {len(lines)} packets"
        if matched:
            os.unlink(pcap)
            return True, detail
        return False, detail + f"; pcap {pcap}", lines[:SHOWN]

    def command(self, a: dict[str, Any]) -> str:
        trig = a["trigger"]["ping"]
        return (shlex.join(in_ns(a["netns"], ["tcpdump", "-p", "-n", "-l", "-i", a["dev"]])) + " & "
                + shlex.join(in_ns(trig["from"], ping_argv(trig))) + "  # expect: " + ", ".join(a["expect"]))


def _pcap_path(spec: LabSpec, a: dict[str, Any]) -> str:
    """Where a capture check's packets go: the lab's run directory, one file per namespace and device (replaced)."""
    run = paths.run_dir(spec.name)
    os.makedirs(run, mode=0o700, exist_ok=True)
    path = os.path.join(run, f"capture-{a['netns'] or 'host'}-{a['dev']}.pcap")
    if os.path.lexists(path):
        os.unlink(path)
    return path


def _server_lease_file(spec: LabSpec, server: str) -> str | None:
    proc = next(p for p in spec.processes if p.name == server)
    for i, word in enumerate(proc.argv):
        if word.startswith("--dhcp-leasefile="):
            return word.split("=", 1)[1]
        if word in ("-l", "--dhcp-leasefile") and i + 1 < len(proc.argv):
            return proc.argv[i + 1]
    return None
