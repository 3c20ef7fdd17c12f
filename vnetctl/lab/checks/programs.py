"""Checks of the lab's own processes: what one wrote (output), which tun/tap it holds (holders)."""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
from typing import Any

from ...backend import process as procb
from ..schema import F
from ..spec import LabSpec
from ..yamlload import Pos
from . import CheckContext, CheckKind, register
from .net import PING
from .tools import in_ns, inspect_device, ping_argv, read_from, tail, tool, wait


class ProgramCheck(CheckKind):
    """A check about a process the lab starts: it must be one, and its log and pid files are known."""

    file = ""  # which of the files ProcessStart writes this check reads: log or pid

    def validate(self, args: dict[str, Any], ctx: CheckContext, at: Pos) -> bool:
        """The process is one the lab starts; note where its file is."""
        if not super().validate(args, ctx, at):
            return False
        where: dict[str, Pos] = getattr(args, "at", {})
        name = args["process"]
        if name is not None and name not in ctx.processes:
            near = difflib.get_close_matches(name, sorted(ctx.processes), 1)
            hint = f" (did you mean {near[0]!r}?)" if near else " (declare it under 'processes')"
            ctx.ck.add(where.get("process", at), f"{self.name} check names process {name!r}, which the lab does not start{hint}")
            return False
        if not self.valid_args(args, ctx, where, at) or name is None or ctx.run is None:
            return False
        args["log" if self.file == "log" else "pid_file"] = os.path.join(ctx.run, f"{name}.{self.file}")
        return True

    def valid_args(self, args: dict[str, Any], ctx: CheckContext, where: dict[str, Pos], at: Pos) -> bool:
        """Further checks of this kind's own arguments."""
        return True


@register
class Output(ProgramCheck):
    """A lab process's log has at least count lines matching the pattern (written after the trigger, if any)."""

    name = "output"
    schema = {"process": F("str", True), "match": F("str", True), "count": F("int", default=1),
              "trigger": F("obj", sub={"ping": F("obj", True, sub=PING)}), "timeout": F("int", default=10)}
    file = "log"

    def valid_args(self, args: dict[str, Any], ctx: CheckContext, where: dict[str, Pos], at: Pos) -> bool:
        """match is a regular expression, count at least 1."""
        try:
            re.compile(args["match"] or "")
        except re.error as e:
            ctx.ck.add(where.get("match", at), f"output check: 'match' {args['match']!r} is not a regular expression: {e}")
            return False
        if args["count"] is not None and args["count"] < 1:
            ctx.ck.add(where.get("count", at), "output check: 'count' must be at least 1")
            return False
        return True

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        log, pattern, trig = a["log"], re.compile(a["match"]), (a["trigger"] or {}).get("ping")
        if not os.path.exists(log):
            return False, f"process {a['process']!r} has no log {log}; is the lab up?"
        start = os.path.getsize(log) if trig else 0  # with a trigger, only what it caused counts
        ping = tool(in_ns(trig["from"], ping_argv(trig)), timeout=trig["count"] * (trig["timeout"] + 1) + 5) \
            if trig else None
        found: list[str] = []

        def matched() -> bool:
            lines = read_from(log, start).split("\n")[:-1]  # a line still being written is not yet counted
            found[:] = [ln for ln in lines if pattern.search(ln)]
            return len(found) >= a["count"]

        ok = wait(matched, a["timeout"])
        detail = f"{len(found)} line(s) of {a['process']}'s output match (expected at least {a['count']})"
        if found:
            detail += f"; last: {found[-1].strip()}"
        elif not ok:
            detail += f"; its output ends: {tail(read_from(log, start))}"
        if ping is not None:
            detail += f"; trigger ping {'ok' if ping.returncode == 0 else 'failed'}"
        return ok, detail

    def command(self, a: dict[str, Any]) -> str:
        trig = (a["trigger"] or {}).get("ping")
        return ((shlex.join(in_ns(trig["from"], ping_argv(trig))) + "; " if trig else "")
                + shlex.join(["grep", "-cP", a["match"], a["log"]]) + f"  # expect: at least {a['count']}")


@register
class Holders(ProgramCheck):
    """inspect finds the lab process (by the pid the lab recorded) among the tun/tap device's holders."""

    name = "holders"
    schema = {"netns": F("netns"), "dev": F("ifname", True), "process": F("str", True)}
    file = "pid"

    def valid_args(self, args: dict[str, Any], ctx: CheckContext, where: dict[str, Pos], at: Pos) -> bool:
        """The device is a tun/tap: only those have holders."""
        kind = ctx.kinds.get((args["netns"], args["dev"]))
        if kind is not None and kind not in ("tun", "tap"):
            ctx.ck.add(at, f"holders check: device {args['dev']!r} is not a tun/tap device; only those have holders")
        return True

    def run(self, a: dict[str, Any], spec: LabSpec) -> tuple[bool, str]:
        try:
            with open(a["pid_file"]) as f:
                rec = json.load(f)
            pid = int(rec["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return False, f"process {a['process']!r} has no readable pid file {a['pid_file']}; is the lab up?"
        if not procb.alive(pid, rec.get("start")):
            return False, f"process {a['process']!r} (pid {pid}) is not running"
        dev = inspect_device(a["dev"], a["netns"])
        held = ", ".join(f"{h.comm} pid {h.pid} fd {h.fd}" for h in dev.holders) or "nobody"
        ok = any(h.pid == pid for h in dev.holders)
        return ok, f"{a['dev']} is held by {held}; expected {a['process']} (pid {pid})"

    def command(self, a: dict[str, Any]) -> str:
        iff = shlex.quote("iff:\\s+" + a["dev"].replace(".", "\\."))
        return (shlex.join(["cat", a["pid_file"]]) + f"; grep -sHxP {iff} /proc/[0-9]*/fdinfo/*"
                + f"  # expect: the pid of process {a['process']}")
