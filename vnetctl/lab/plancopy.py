"""What a `lab plan` script makes: its lines for namespaces and processes, and reading back what it made.

The script marks its devices `vnet-p-<lab>-<hash>` (owner `plan:<lab>`), never with the lab's own
marker, and records in /run/vnetctl/plans/<lab>/ the namespaces it added (name and inode) and the
processes it started (pid and start time), so `lab status` reports the copy and `cleanup` leaves it
alone unless asked (`--owner plan:<lab>` or `--all`).
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from .. import state
from ..backend import netns as nsb
from ..backend import process as procb
from ..errors import VnetError
from ..ownership import PLAN_OWNER, owner_of
from ..steps import Session, in_ns, ip
from . import paths
from .process import ProcessStart

NETNS_FILE = "netns"
PIDS = "pids"  # not in the run directory, where a program may write its own NAME.pid


def preamble(lab: str) -> list[str]:
    """The lines that prepare the script's record directory."""
    return ["umask 077", shlex.join(["mkdir", "-p", paths.plan_run_dir(lab), os.path.join(paths.plan_dir(lab), PIDS)])]


def netns_lines(name: str, lab: str) -> list[str]:
    """`ip netns add` and the record of the namespace's inode (what proves it the plan's to cleanup)."""
    record = shlex.quote(os.path.join(paths.plan_dir(lab), NETNS_FILE))
    return [shlex.join(["ip", "netns", "add", name]),
            f"echo {shlex.quote(name)} \"$(stat -L -c %i {shlex.quote(nsb.path_of(name))})\" >>{record}"]


def process_lines(step: ProcessStart, lab: str) -> list[str]:
    """Start a process in the background, record its pid and start time, wait (bounded) until it is ready."""
    run = paths.plan_run_dir(lab)
    log = shlex.quote(os.path.join(run, f"{step.name}.log"))
    pid_file = shlex.quote(os.path.join(paths.plan_dir(lab), PIDS, f"{step.name}.json"))
    argv = [*(["env", *(f"{k}={v}" for k, v in step.env)] if step.env else []), *step.argv]
    start = "$(sed 's/.*) //' /proc/$pid/stat | cut -d' ' -f20)"
    gone = f"{{ echo \"process {step.name} exited during start-up; see {log}\" >&2; exit 1; }}"
    lines = [f"# process {step.name}", in_ns(step.netns, *argv) + f" >{log} 2>&1 &", "pid=$!",
             f"printf '{{\"pid\": %s, \"start\": %s}}\\n' \"$pid\" \"{start}\" >{pid_file}"]
    test = ready_test(step)
    if not test:
        return lines + ["sleep 0.2", f"kill -0 \"$pid\" 2>/dev/null || {gone}"]
    tries = max(1, int(step.timeout * 10))
    late = f"{{ echo \"process {step.name} not ready after {step.timeout:g}s; see {log}\" >&2; exit 1; }}"
    return lines + [f"n=0; until {test}; do kill -0 \"$pid\" 2>/dev/null || {gone}; n=$((n + 1)); "
                    f"[ \"$n\" -le {tries} ] || {late}; sleep 0.1; done"]


def ready_test(step: ProcessStart) -> str:
    """The process's readiness as a shell test ('' when it declares none)."""
    ready = dict(step.ready)
    tests = []
    if "device" in ready:
        tests.append(ip(step.netns, "link", "show", "dev", str(ready["device"])) + " >/dev/null 2>&1")
    if "port" in ready:
        flag = "-Hlnu" if ready.get("proto", "tcp") == "udp" else "-Hlnt"
        tests.append(in_ns(step.netns, "ss", flag, f"sport = :{int(ready['port'])}") + " | grep -q .")
    if "file" in ready:
        tests.append(shlex.join(["test", "-e", str(ready["file"])]))
    return " && ".join(tests)


def names() -> list[str]:
    """Labs whose plan script left a record on this host."""
    try:
        found = sorted(os.listdir(os.path.join(state.state_dir(), "plans")))
    except FileNotFoundError:
        return []
    return [n for n in found if paths.valid_name(n)]


def namespaces(lab: str) -> list[tuple[str, int]]:
    """(name, inode) of each namespace the plan script recorded."""
    try:
        with open(os.path.join(paths.plan_dir(lab), NETNS_FILE), errors="replace") as f:
            rows = [line.split() for line in f]
    except FileNotFoundError:
        return []
    return [(r[0], int(r[1])) for r in rows if len(r) == 2 and r[1].isdigit()]


def processes(lab: str) -> list[dict[str, Any]]:
    """name, pid, start and running of each process the plan script recorded."""
    out = []
    run = os.path.join(paths.plan_dir(lab), PIDS)
    try:
        files = sorted(f for f in os.listdir(run) if f.endswith(".json"))
    except FileNotFoundError:
        return []
    for f in files:
        try:
            rec = state.read_json(os.path.join(run, f))
            pid, start = int(rec["pid"]), int(rec["start"]) if rec.get("start") is not None else None
        except (OSError, ValueError, TypeError, KeyError):
            continue
        out.append({"name": f[:-5], "pid": pid, "start": start, "running": procb.alive(pid, start)})
    return out


def alive_namespaces(lab: str) -> list[str]:
    """The recorded namespaces that are still the ones the plan added (same inode)."""
    out = []
    for name, inode in namespaces(lab):
        try:
            ref = nsb.resolve(name)
        except Exception:  # noqa: BLE001 - gone, or not a namespace any more: not the plan's
            continue
        if ref is not None and ref.inode == inode:
            out.append(name)
    return out


def devices(lab: str, s: Session) -> list[dict[str, Any]]:
    """name and netns of each device carrying the plan's marker, here and in its namespaces."""
    out = []
    for ns in [None, *alive_namespaces(lab)]:
        try:
            links = s.nl(ns).links()
        except VnetError:
            continue
        out += [{"name": lk.name, "netns": ns} for lk in links if owner_of(lk.altnames) == PLAN_OWNER + lab]
    return out


def summary(lab: str) -> dict[str, Any] | None:
    """What the plan script of `lab` made and is still there (None when it left no record)."""
    if lab not in names():
        return None
    with Session(64) as s:
        devs = devices(lab, s)
    return {"owner": PLAN_OWNER + lab, "dir": paths.plan_dir(lab), "namespaces": alive_namespaces(lab), "devices": devs,
            "processes": [{k: p[k] for k in ("name", "pid", "running")} for p in processes(lab)]}
