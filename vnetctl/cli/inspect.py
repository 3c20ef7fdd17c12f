"""vnetctl inspect [peer|driver|holders]: the host's namespaces, devices, peers, drivers and holders."""

from __future__ import annotations

import sys

import click

from .. import discovery
from ..render import inspect_text as text
from ..render.output import emit_json
from ..render.safe import sanitized
from .common import json_option, netns_option, warn

FORMATS = ["tree", "table", "dot", "mermaid"]


def _inherit(netns: str | None, as_json: bool) -> tuple[str | None, bool]:
    parent = click.get_current_context().obj or {}
    return netns or parent.get("netns"), as_json or bool(parent.get("as_json"))


@click.group(invoke_without_command=True)
@netns_option
@json_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tree", show_default=True,
              help="tree/table for reading, dot (Graphviz) or mermaid for a picture.")
@click.option("--watch", is_flag=True, help="Draw the tree again whenever something changes (until Ctrl-C).")
@click.option("--no-owners", is_flag=True, help="Do not look up which container, pod or VM owns each namespace.")
@click.option("--lab", metavar="LAB", help="Every host of a lab across hosts (its file or name), over SSH.")
@click.option("--hosts", metavar="DEST,...", help="These hosts over SSH ([user@]host[:port], comma-separated).")
@click.pass_context
def inspect(ctx: click.Context, netns: str | None, as_json: bool, fmt: str, watch: bool, no_owners: bool,
            lab: str | None, hosts: str | None) -> None:
    """The whole host: every namespace, device, veth peer, driver, holder and owner.

    Every namespace (named or not) with its devices, each veth's peer and its namespace,
    drivers, bridge ports, the processes holding each tun/tap, and the container, pod or VM
    that owns each namespace; with --lab or --hosts, every host of a lab over SSH.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"netns": netns, "as_json": as_json}  # `inspect -n NS peer DEV` means the same as `peer DEV -n NS`
        return
    if lab or hosts:
        _across(lab, hosts, as_json, fmt)
        return
    if watch:
        _watch(netns)
        return
    view = discovery.host(netns, owners=not no_owners)
    warn(view.warnings)
    if as_json:
        emit_json(text.host_json(view))
        return
    view = sanitized(view)  # every text format below prints names and comms
    if fmt == "dot":
        from ..render.graph import dot
        sys.stdout.write(dot(view))
    elif fmt == "mermaid":
        from ..render.graph import mermaid
        sys.stdout.write(mermaid(view))
    elif fmt == "table":
        from ..render.output import table
        table(text.TABLE_COLUMNS, text.table_rows(view))
    elif sys.stdout.isatty():
        from ..render.output import stdout_console
        stdout_console().print(text.rich_tree(view))
    else:
        sys.stdout.write("\n".join(text.tree_lines(view)) + "\n")


def _watch(netns: str | None) -> None:
    """Redraw the tree after each burst of changes the monitor reports."""
    import time

    from ..monitor import Monitor
    from .monitor import stop_on_signals

    stop = stop_on_signals()
    mon = Monitor(netns, owners=False)
    events = mon.events(stop, lambda n: click.echo(f"watching {n} namespace(s) (Ctrl-C to stop)", err=True))
    while not stop():
        view = sanitized(discovery.host(netns))
        if sys.stdout.isatty():
            from ..render.output import stdout_console
            console = stdout_console()
            console.clear()
            console.print(text.rich_tree(view))
        else:
            sys.stdout.write("\n".join(text.tree_lines(view)) + "\n\n")
            sys.stdout.flush()
        if next(events, None) is None:
            break
        quiet_until = time.monotonic() + 0.2  # a burst (a namespace with its devices) is drawn once
        while time.monotonic() < quiet_until and not stop():
            time.sleep(0.05)
    mon.close()


def _across(lab: str | None, hosts: str | None, as_json: bool, fmt: str) -> None:
    """Each host's inspect, gathered over SSH, with the VXLAN links between hosts as edges."""
    from ..remote.inspect_hosts import hosts_of, inspect_hosts
    from ..render import hosts as across
    data = inspect_hosts(hosts_of(lab, hosts))
    if as_json:
        emit_json(across.public(data))
    elif fmt in ("dot", "mermaid"):
        sys.stdout.write(across.dot(data) if fmt == "dot" else across.mermaid(data))
    else:
        sys.stdout.write("\n".join(across.tree_lines(data)) + "\n")


@inspect.command("peer")
@click.argument("dev")
@netns_option
@json_option
def peer(dev: str, netns: str | None, as_json: bool) -> None:
    """Where the other end of veth DEV is: its name, ifindex and namespace."""
    netns, as_json = _inherit(netns, as_json)
    found, warnings = discovery.lookup(dev, netns, kind="veth")
    warn(warnings)
    if as_json:
        emit_json(text.device_json(found))
    else:
        sys.stdout.write("\n".join(text.device_text(sanitized(found))) + "\n")


@inspect.command("driver")
@click.argument("dev")
@netns_option
@json_option
def driver(dev: str, netns: str | None, as_json: bool) -> None:
    """What `ethtool -i DEV` says: driver, version, bus-info (and the link kind)."""
    netns, as_json = _inherit(netns, as_json)
    found, warnings = discovery.lookup(dev, netns)
    warn(warnings)
    if as_json:
        emit_json(text.driver_json(found))
    else:
        info = text.driver_json(sanitized(found))
        sys.stdout.write("".join(f"{k.replace('_', '-')}: {v if v is not None else '-'}\n" for k, v in info.items()))


@inspect.command("holders")
@click.argument("dev")
@netns_option
@json_option
def holders(dev: str, netns: str | None, as_json: bool) -> None:
    """Which processes hold tun/tap or macvtap DEV open, and who they belong to.

    Every namespace is searched unless -n names one.
    """
    from ..render.output import table

    netns, as_json = _inherit(netns, as_json)
    if netns is None:
        taps, warnings = discovery.tun_anywhere(dev)
        warn(warnings)
        rows = [(ns, h) for ns, d in taps for h in d.holders]
        if as_json:
            emit_json([{**text.holder_json(h), "netns": ns.ref, "netns_inode": ns.inode} for ns, h in rows])
        else:
            table(["NAMESPACE", "PID", "COMMAND", "FD", "OWNER"],
                  [[text.ns_label(ns), h.pid, h.comm, h.fd, text.owners_text((h.owner,) if h.owner else ())] for ns, h in rows])
        return
    found, warnings = discovery.lookup(dev, netns, kind=("tun", "macvtap"))
    warn(warnings)
    if as_json:
        emit_json([text.holder_json(h) for h in found.holders])
        return
    table(["PID", "COMMAND", "FD", "OWNER"],
          [[h.pid, h.comm, h.fd, text.owners_text((h.owner,) if h.owner else ())] for h in found.holders])


@inspect.command("who")
@click.argument("dev")
@netns_option
@json_option
def who(dev: str, netns: str | None, as_json: bool) -> None:
    """Which container, pod, VM or process sits behind DEV.

    Its namespace's owner, its peer's, and its holders'.
    """
    netns, as_json = _inherit(netns, as_json)
    found, warnings = discovery.who(dev, netns)
    warn(warnings)
    if as_json:
        emit_json(text.who_json(found))
    else:
        sys.stdout.write(text.who_line(found) + "\n")


COMMANDS = [inspect]
