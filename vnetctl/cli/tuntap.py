"""vnetctl tuntap add|del|list."""

from __future__ import annotations

import click

from .. import api
from ..render.output import Col, emit_json, table
from .common import dry_run_option, json_option, netns_option, show_plan, warn


@click.group()
def tuntap() -> None:
    """tun (layer 3) and tap (layer 2) devices backed by a user-space program."""


@tuntap.command("add")
@click.argument("name")
@click.option("--mode", type=click.Choice(["tun", "tap"]), required=True, help="tun: IP packets; tap: Ethernet frames.")
@netns_option
@click.option("--user", metavar="USER", help="Let USER (name or uid) attach without CAP_NET_ADMIN.")
@click.option("--group", metavar="GROUP", help="Let members of GROUP attach.")
@click.option("--multi-queue", is_flag=True, help="Allow several queues (one fd per queue).")
@dry_run_option
def add(name: str, mode: str, netns: str | None, user: str | None, group: str | None, multi_queue: bool,
        dry_run: bool) -> None:
    """Create persistent tun/tap NAME (ip tuntap add); it outlives this command."""
    show_plan(api.tuntap_add(name, mode, netns, user, group, multi_queue, dry_run=dry_run), dry_run)


@tuntap.command("del")
@click.argument("name")
@netns_option
@click.option("--force", is_flag=True, help="Delete it even while processes hold it open (they then end).")
@dry_run_option
def delete(name: str, netns: str | None, force: bool, dry_run: bool) -> None:
    """Delete tun/tap NAME (one a process holds needs --force)."""
    show_plan(api.link_del(name, netns, kinds=("tun",), dry_run=dry_run, force=force), dry_run)


@tuntap.command("list")
@netns_option
@json_option
def list_(netns: str | None, as_json: bool) -> None:
    """List tun/tap devices with mode, flags, owner and the processes holding them."""
    warnings: list[str] = []
    found = api.tuntaps(netns, warnings)
    warn(warnings)
    if as_json:
        emit_json(found)
        return
    table(["NAME", "MODE", "STATE", Col("PERSIST", drop=2), Col("MULTI_QUEUE", drop=3), Col("OWNER", drop=4),
           Col("GROUP", drop=5), Col("HOLDERS", cut=True)],
          [[t["name"], t["mode"], t["link_state"], t["persist"], t["multi_queue"], t["owner"], t["group"],
            " ".join(f"{h['comm']}[{h['pid']}]:fd{h['fd']}" for h in t.get("holders", [])) or "-"] for t in found])


COMMANDS = [tuntap]

from .tuntap_programs import PROGRAMS  # noqa: E402

for _c in PROGRAMS:
    tuntap.add_command(_c)
