"""vnetctl veth add|del|list."""

from __future__ import annotations

import click

from .. import api
from ..render.inspect_text import ref_label
from ..render.output import Col, emit_json, table
from .common import dry_run_option, json_option, netns_default, netns_option, show_plan, warn


@click.group()
def veth() -> None:
    """veth pairs: two devices joined back to back, often across namespaces."""


@veth.command("add")
@click.argument("name")
@click.argument("peer")
@click.option("-n", "--netns", "netns", metavar="NS", callback=netns_default, help="Create NAME inside namespace NS.")
@click.option("--peer-netns", metavar="NS", help="Create PEER inside namespace NS.")
@click.option("--addr", metavar="CIDR", help="Address for NAME, e.g. 10.1.1.2/24.")
@click.option("--peer-addr", metavar="CIDR", help="Address for PEER.")
@click.option("--up", is_flag=True, help="Bring both ends up (implied by --addr/--peer-addr).")
@dry_run_option
def add(name: str, peer: str, netns: str | None, peer_netns: str | None,
        addr: str | None, peer_addr: str | None, up: bool, dry_run: bool) -> None:
    """Create veth pair NAME <-> PEER, each end directly in its namespace."""
    steps = api.veth_add(name, peer, netns, peer_netns, addr, peer_addr, up, dry_run=dry_run)
    show_plan(steps, dry_run)


@veth.command("del")
@click.argument("name")
@netns_option
@dry_run_option
def delete(name: str, netns: str | None, dry_run: bool) -> None:
    """Delete veth NAME (its peer goes with it)."""
    show_plan(api.link_del(name, netns, kinds=("veth",), dry_run=dry_run), dry_run)


@veth.command("list")
@netns_option
@click.option("--all", "all_", is_flag=True, help="Every namespace on the host, not just one.")
@json_option
def list_(netns: str | None, all_: bool, as_json: bool) -> None:
    """List veths with their peer's name, ifindex and namespace."""
    warnings: list[str] = []
    pairs = api.veths(netns, all_namespaces=all_, warnings=warnings)
    warn(warnings)
    if as_json:
        emit_json(pairs)
        return
    table(["NAMESPACE", "NAME", Col("IFINDEX", drop=2), Col("STATE", drop=3), "PEER", Col("PEER IFINDEX", drop=1),
           "PEER NAMESPACE"],
          [[ref_label(p["netns"]), p["name"], p["ifindex"], p["state"], p["peer"]["name"], p["peer"]["ifindex"],
            ref_label(p["peer"]["netns"]) if p["peer"]["netns_inode"] else "?"] for p in pairs])


COMMANDS = [veth]
