"""vnetctl route add|del|show|get."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import api
from ..render.output import Col, emit_json, table
from .common import dry_run_option, family_option, json_option, netns_option, show_plan

F = Callable[..., Any]


def table_option(f: F) -> F:
    """--table T: a routing table."""
    return click.option("--table", metavar="TABLE", default="main", show_default=True,
                        help="Routing table: main, local, default or a number.")(f)


@click.group()
def route() -> None:
    """Routes: show, get, add and delete, in any table, IPv4 and IPv6."""


@route.command("add")
@click.argument("dest")
@click.option("--via", metavar="GW", help="Next-hop gateway address.")
@click.option("--dev", metavar="DEV", help="Output device.")
@netns_option
@table_option
@family_option
@dry_run_option
def add(dest: str, via: str | None, dev: str | None, netns: str | None, table: str, family: str | None,
        dry_run: bool) -> None:
    """Add a route to DEST ('default' or a CIDR).

    -6 makes a default route without --via an IPv6 one.
    """
    show_plan(api.route_add(dest, via, dev, netns, dry_run=dry_run, table=table, family=family), dry_run)


@route.command("del")
@click.argument("dest")
@click.option("--via", metavar="GW", help="Only the route through this gateway.")
@click.option("--dev", metavar="DEV", help="Only the route out of this device.")
@netns_option
@table_option
@family_option
@dry_run_option
def delete(dest: str, via: str | None, dev: str | None, netns: str | None, table: str, family: str | None,
           dry_run: bool) -> None:
    """Delete the route to DEST ('default' or a CIDR).

    A default route is the one of whichever family has one; when both do, say -4 or -6.
    """
    show_plan(api.route_del(dest, netns, dry_run=dry_run, via=via, dev=dev, table=table, family=family), dry_run)


@route.command("show")
@netns_option
@click.option("--table", metavar="TABLE", default="main", show_default=True,
              help="Routing table: main, local, default, a number, or all.")
@family_option
@json_option
def show(netns: str | None, table: str, family: str | None, as_json: bool) -> None:
    """Show routes (ip route show), IPv4 and IPv6 unless -4/-6."""
    found = api.routes(netns, table, family)
    if as_json:
        emit_json(found)
        return
    _table_of(found)


def _table_of(found: list[Any]) -> None:
    table(["DESTINATION", "GATEWAY", "DEV", "FAMILY", Col("TABLE", drop=3), Col("PROTO", drop=2), Col("SCOPE", drop=1),
           Col("SRC", drop=4)],
          [[r.dst, r.gateway, r.dev, r.family, r.table, r.protocol, r.scope, r.prefsrc] for r in found])


@route.command("get")
@click.argument("addr")
@netns_option
@json_option
def get(addr: str, netns: str | None, as_json: bool) -> None:
    """The route the kernel would take to ADDR (ip route get): gateway, device, source."""
    found = api.route_get(addr, netns)
    if as_json:
        emit_json(found)
        return
    _table_of([found])


COMMANDS = [route]
