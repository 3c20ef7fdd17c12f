"""vnetctl monitor: link, address, route and namespace events from every namespace, as lines or JSON lines."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from ..monitor import Monitor
from ..owners import describe
from ..render.output import json_text
from ..render.safe import safe
from .common import json_option, netns_option, warn


def event_line(e: dict[str, Any]) -> str:
    """One event for a person: time, event, device and details, namespace and owner."""
    from ..model import Owner

    where = e["netns"] or "(host)"
    if e["owner"]:
        where += f" {describe(Owner(**e['owner']))}"
    what = e["device"] or ""
    if e.get("ifindex"):
        what += f" #{e['ifindex']}"
    details = [str(e[k]) for k in ("kind", "state", "address", "dst") if e.get(k)]
    if e.get("gateway"):
        details.append(f"via {e['gateway']}")
    if e["event"] == "netns-add" and e.get("devices"):
        details.append("devices " + ",".join(e["devices"]))
    return "  ".join(x for x in (e["time"][11:23], e["event"], what.strip(), " ".join(details), f"in {where}") if x)


@click.command("monitor")
@netns_option
@json_option
def monitor(netns: str | None, as_json: bool) -> None:
    """Watch every namespace for changes, like ip monitor.

    Links, addresses, routes and namespaces, in every namespace, new ones too.
    """
    mon = Monitor(netns)
    def ready(n: int) -> None:
        click.echo(f"watching {n} namespace(s) and any new one (Ctrl-C to stop)", err=True)

    for event in mon.events(stop_on_signals(), ready):
        warn(mon.warnings)
        mon.warnings.clear()
        sys.stdout.write((json_text(event, pretty=False) if as_json else safe(event_line(event))) + "\n")
        sys.stdout.flush()


def stop_on_signals() -> Callable[[], bool]:
    """A stop() that turns true on SIGINT or SIGTERM, so watching ends with exit 0 and every socket closed."""
    stopped: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        stopped.append(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return lambda: bool(stopped)


COMMANDS = [monitor]
