"""vnetctl addr add|del|show."""

from __future__ import annotations

import socket
from typing import Any

import click

from .. import api
from ..render.output import Col, emit_json, table
from .common import dry_run_option, family_option, json_option, netns_option, show_plan


@click.group()
def addr() -> None:
    """IP addresses on devices."""


@addr.command("add")
@click.argument("cidr")
@click.argument("dev")
@netns_option
@dry_run_option
def add(cidr: str, dev: str, netns: str | None, dry_run: bool) -> None:
    """Add address CIDR to DEV, for example 10.1.1.2/24 or fd00::1/64."""
    show_plan(api.addr_add(cidr, dev, netns, dry_run=dry_run), dry_run)


@addr.command("del")
@click.argument("cidr")
@click.argument("dev")
@netns_option
@dry_run_option
def delete(cidr: str, dev: str, netns: str | None, dry_run: bool) -> None:
    """Remove address CIDR from DEV."""
    show_plan(api.addr_del(cidr, dev, netns, dry_run=dry_run), dry_run)


@addr.command("flush")
@click.argument("dev")
@netns_option
@family_option
@dry_run_option
def flush(dev: str, netns: str | None, family: str | None, dry_run: bool) -> None:
    """Remove every address from DEV (ip addr flush dev DEV), or only -4/-6 ones."""
    show_plan(api.addr_flush(dev, netns, family, dry_run=dry_run), dry_run)


@addr.command("show")
@click.argument("dev", required=False)
@netns_option
@family_option
@json_option
def show(dev: str | None, netns: str | None, family: str | None, as_json: bool) -> None:
    """Show addresses (ip addr show), IPv4 and IPv6 unless -4/-6."""
    found = api.addresses(dev, netns)
    want = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(family or "")
    rows: list[dict[str, Any]] = [{"ifindex": lk.index, "name": lk.name, "state": lk.state, "link_state": lk.link_state,
                                   "addresses": [a.cidr for a in addrs if want is None or a.family == want]}
                                  for lk, addrs in found]
    if as_json:
        emit_json(rows)
        return
    table([Col("IFINDEX", drop=1), "NAME", Col("STATE", drop=2), "ADDRESSES"],
          [[r["ifindex"], r["name"], r["link_state"], " ".join(r["addresses"]) or "-"] for r in rows])


COMMANDS = [addr]
