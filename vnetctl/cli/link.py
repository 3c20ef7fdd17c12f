"""vnetctl link set|show."""

from __future__ import annotations

import click

from .. import api
from ..errors import UsageError
from ..render.output import Col, emit_json, table
from ..render.shapes import link_json
from .common import dry_run_option, json_option, netns_option, show_plan


@click.group()
def link() -> None:
    """Any network device: show, change or delete it (like ip link)."""


@link.command("set")
@click.argument("dev")
@netns_option
@click.option("--up", "up_", is_flag=True, help="Bring the device up.")
@click.option("--down", "down_", is_flag=True, help="Bring the device down.")
@click.option("--mtu", metavar="N", type=click.IntRange(68, 65535), help="Set the MTU.")
@click.option("--master", metavar="BRIDGE", help="Enslave to BRIDGE.")
@click.option("--nomaster", is_flag=True, help="Release from its bridge.")
@click.option("--to-netns", "--move-to", "to_netns", metavar="NS",
              help="Move into namespace NS (name, pid:PID or path; 'host' for this namespace).")
@click.option("--name", "new_name", metavar="NEW", help="Rename the device.")
@dry_run_option
def set_(dev: str, netns: str | None, up_: bool, down_: bool, mtu: int | None, master: str | None, nomaster: bool,
         to_netns: str | None, new_name: str | None, dry_run: bool) -> None:
    """Change DEV: rename, MTU, bridge, namespace, then up/down (in its new place)."""
    if up_ and down_:
        raise UsageError("--up and --down contradict each other", "give one of them; nothing was changed")
    up = True if up_ else False if down_ else None
    show_plan(api.link_set(dev, netns, up=up, mtu=mtu, master=master, nomaster=nomaster, to_netns=to_netns,
                           new_name=new_name, dry_run=dry_run), dry_run)


@link.command("del")
@click.argument("dev")
@netns_option
@dry_run_option
def delete(dev: str, netns: str | None, dry_run: bool) -> None:
    """Delete device DEV of any kind (ip link del); a veth takes its peer with it."""
    show_plan(api.link_del(dev, netns, dry_run=dry_run), dry_run)


@link.command("show")
@click.argument("dev", required=False)
@netns_option
@json_option
def show(dev: str | None, netns: str | None, as_json: bool) -> None:
    """Show devices (ip link show): kind, state, MTU, MAC, bridge, vnetctl owner."""
    every = api.links(netns)
    names = {lk.index: lk.name for lk in every}
    chosen = [api.link(dev, netns)] if dev else every
    rows = [link_json(lk, names) for lk in chosen]
    if as_json:
        emit_json(rows)
        return
    table(["IFINDEX", "NAME", "KIND", "STATE", Col("MTU", drop=2), Col("MAC", drop=3), Col("MASTER", drop=1), Col("OWNER", drop=4)],
          [[r["ifindex"], r["name"], r["kind"], r["state"], r["mtu"], r["mac"], r["master"], r["owner"]] for r in rows])


COMMANDS = [link]
