"""vnetctl bridge add|del|addif|delif|show (and fdb, link, vlan, set from bridge_more)."""

from __future__ import annotations

import click

from .. import api
from ..render.output import Col, emit_json, table
from . import bridge_more
from .common import dry_run_option, json_option, netns_option, show_plan
from .kinds import kind_options


@click.group()
def bridge() -> None:
    """Linux bridges (like brctl / ip link type bridge)."""


@bridge.command("add")
@click.argument("name")
@netns_option
@kind_options("bridge")
@click.option("--down", is_flag=True, help="Leave it down (it is brought up by default).")
@dry_run_option
def add(name: str, netns: str | None, stp: bool, down: bool, dry_run: bool) -> None:
    """Create bridge NAME (brctl addbr)."""
    show_plan(api.bridge_add(name, netns, stp=stp, up=not down, dry_run=dry_run), dry_run)


@bridge.command("del")
@click.argument("name")
@netns_option
@dry_run_option
def delete(name: str, netns: str | None, dry_run: bool) -> None:
    """Delete bridge NAME (brctl delbr); its ports are released."""
    show_plan(api.link_del(name, netns, kinds=("bridge",), dry_run=dry_run), dry_run)


@bridge.command("addif")
@click.argument("bridge_name", metavar="BRIDGE")
@click.argument("dev")
@netns_option
@dry_run_option
def addif(bridge_name: str, dev: str, netns: str | None, dry_run: bool) -> None:
    """Make DEV a port of BRIDGE (brctl addif) and bring it up."""
    show_plan(api.bridge_addif(bridge_name, dev, netns, dry_run=dry_run), dry_run)


@bridge.command("delif")
@click.argument("bridge_name", metavar="BRIDGE")
@click.argument("dev")
@netns_option
@dry_run_option
def delif(bridge_name: str, dev: str, netns: str | None, dry_run: bool) -> None:
    """Release DEV from BRIDGE (brctl delif)."""
    show_plan(api.bridge_delif(bridge_name, dev, netns, dry_run=dry_run), dry_run)


@bridge.command("show")
@click.argument("name", required=False)
@netns_option
@json_option
def show(name: str | None, netns: str | None, as_json: bool) -> None:
    """Show bridges and their ports (brctl show)."""
    found = api.bridges(netns, name)
    if as_json:
        emit_json(found)
        return
    table(["BRIDGE", Col("IFINDEX", drop=1), "STATE", Col("STP", drop=2), "PORTS"],
          [[b["name"], b["ifindex"], b["link_state"], b["stp"], " ".join(b["ports"]) or "-"] for b in found])


for _sub in bridge_more.SUBCOMMANDS:
    bridge.add_command(_sub)

COMMANDS = [bridge]
