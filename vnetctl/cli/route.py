"""vnetctl route add|del|show."""

from __future__ import annotations

import click

from .. import api
from ..render.output import Col, emit_json, table
from .common import dry_run_option, json_option, netns_option, show_plan


@click.group()
def route() -> None:
    """Routes of the main table."""


@route.command("add")
@click.argument("dest")
@click.option("--via", metavar="GW", help="Next-hop gateway address.")
@click.option("--dev", metavar="DEV", help="Output device.")
@netns_option
@dry_run_option
def add(dest: str, via: str | None, dev: str | None, netns: str | None, dry_run: bool) -> None:
    """Add a route to DEST ('default' or a CIDR)."""
    show_plan(api.route_add(dest, via, dev, netns, dry_run=dry_run), dry_run)


@route.command("del")
@click.argument("dest")
@netns_option
@dry_run_option
def delete(dest: str, netns: str | None, dry_run: bool) -> None:
    """Delete the route to DEST."""
    show_plan(api.route_del(dest, netns, dry_run=dry_run), dry_run)


@route.command("show")
@netns_option
@json_option
def show(netns: str | None, as_json: bool) -> None:
    """Show routes (ip route show)."""
    found = api.routes(netns)
    if as_json:
        emit_json(found)
        return
    table(["DESTINATION", "GATEWAY", "DEV", Col("PROTO", drop=2), Col("SCOPE", drop=1)],
          [[r.dst, r.gateway, r.dev, r.protocol, r.scope] for r in found])


COMMANDS = [route]
