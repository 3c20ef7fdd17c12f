"""`vnetctl cleanup` for labs across hosts: every host of a lab's record cleans its part of the lab there.

A controller that crashed leaves its record (which hosts hold a part) and, on each host,
the part's journal and markers. Each host runs its own cleanup, scoped to the lab (its
journal undone as `lab down` would, then what still carries the lab's marker); the record is
forgotten once every host is clean, and kept, naming the hosts, while any cannot be reached.
"""

from __future__ import annotations

from typing import Any

from ..errors import IncompleteUndo, VnetError
from ..lab.cleanup import Action, Wanted
from ..lab.spec import Host
from . import record
from .controller import hosts_of, parallel
from .ssh import Connection


def cleanup_hosts(wanted: Wanted, dry_run: bool, warnings: list[str], left: list[str]) -> list[Action]:
    """Clean (or with dry_run list) every wanted lab across hosts on each of its hosts; `left` gets what stayed."""
    return [a for name in filter(wanted, record.names()) for a in _clean_lab(name, dry_run, warnings, left)]


def _clean_lab(name: str, dry_run: bool, warnings: list[str], left: list[str]) -> list[Action]:
    out: list[Action] = []
    with record.Lock(name):  # 75 while a controller is bringing it up or down
        rec = record.read(name)
        if rec is None:
            return out
        got = parallel(hosts_of(rec), lambda h: _clean_one(h, name, dry_run))
        failed = []
        for host, r in got.items():
            if isinstance(r, VnetError):
                failed.append(host)
                left += [f"host {host}: {x}" for x in r.left] if isinstance(r, IncompleteUndo) else [f"host {host}: {r.line()}"]
                continue
            out += [_action(host, a) for a in r["actions"]]
            warnings += [f"host {host}: {w}" for w in r["warnings"]]
        if failed:
            if not dry_run:
                record.write(name, status="failed", pid=None, hosts={h: rec["hosts"][h] for h in failed})
            return out
        out.append(Action(f"record of lab {name} across hosts {', '.join(rec['hosts'])}", f"# forget {name}",
                          lambda: None, "forget", "lab-record", name, owner=name))
        if not dry_run:
            record.forget(name)
    return out


def _clean_one(host: Host, name: str, dry_run: bool) -> dict[str, Any]:
    c = Connection(host).open()
    try:
        return c.call({"op": "cleanup", "owner": name, "dry_run": dry_run}, "cleanup")
    finally:
        c.close()


def _action(host: str, a: dict[str, Any]) -> Action:
    return Action(a["description"], a["command"], lambda: None, a["action"], a["object"], a["name"], a["netns"],
                  a["owner"], a["pid"], host)
