"""vnetctl vxlan|vlan|gretap|macvlan add|del: devices stacked on another device or an underlay."""

from __future__ import annotations

from typing import Any

import click

from .. import api
from .common import dry_run_option, netns_option, show_plan


def _del_command(kind: str) -> click.Command:
    @click.command("del")
    @click.argument("name")
    @netns_option
    @dry_run_option
    def delete(name: str, netns: str | None, dry_run: bool) -> None:
        show_plan(api.link_del(name, netns, kinds=(kind,), dry_run=dry_run), dry_run)

    delete.help = f"Delete {kind} device NAME."
    return delete


@click.group()
def vxlan() -> None:
    """VXLAN: Ethernet over UDP between nodes (kernel overlay)."""


@vxlan.command("add")
@click.argument("name")
@click.option("--vni", type=click.IntRange(0, 16777215), required=True, help="VXLAN network identifier.")
@click.option("--remote", metavar="IP", help="Unicast peer address.")
@click.option("--group", metavar="IP", help="Multicast group address.")
@click.option("--local", metavar="IP", help="Source address.")
@click.option("--dev", metavar="DEV", help="Underlay device.")
@click.option("--dstport", type=click.IntRange(1, 65535), default=4789, show_default=True, help="UDP port.")
@netns_option
@dry_run_option
def vxlan_add(name: str, vni: int, remote: str | None, group: str | None, local: str | None, dev: str | None,
              dstport: int, netns: str | None, dry_run: bool) -> None:
    """Create VXLAN device NAME."""
    if remote and group:
        raise click.UsageError("--remote and --group are exclusive")
    opts: list[tuple[str, Any]] = [("vni", vni)]
    opts += [(k, v) for k, v in (("remote", remote), ("group", group), ("local", local)) if v]
    opts.append(("dstport", dstport))
    show_plan(api.tunnel_add(name, "vxlan", opts, lower=dev, netns=netns, dry_run=dry_run), dry_run)


@click.group()
def vlan() -> None:
    """802.1Q VLAN sub-interfaces (needs the 8021q module)."""


@vlan.command("add")
@click.argument("name")
@click.option("--link", "lower", metavar="DEV", required=True, help="Parent device.")
@click.option("--id", "vid", type=click.IntRange(1, 4094), required=True, help="VLAN id.")
@netns_option
@dry_run_option
def vlan_add(name: str, lower: str, vid: int, netns: str | None, dry_run: bool) -> None:
    """Create VLAN device NAME on DEV."""
    show_plan(api.tunnel_add(name, "vlan", [("id", vid)], lower=lower, netns=netns, dry_run=dry_run), dry_run)


@click.group()
def gretap() -> None:
    """GRE tunnels carrying Ethernet (needs the ip_gre module)."""


@gretap.command("add")
@click.argument("name")
@click.option("--remote", metavar="IP", required=True, help="Remote endpoint.")
@click.option("--local", metavar="IP", help="Local endpoint.")
@netns_option
@dry_run_option
def gretap_add(name: str, remote: str, local: str | None, netns: str | None, dry_run: bool) -> None:
    """Create gretap device NAME."""
    opts: list[tuple[str, Any]] = [("remote", remote)] + ([("local", local)] if local else [])
    show_plan(api.tunnel_add(name, "gretap", opts, netns=netns, dry_run=dry_run), dry_run)


@click.group()
def macvlan() -> None:
    """macvlan: extra MAC addresses on one parent device."""


@macvlan.command("add")
@click.argument("name")
@click.option("--link", "lower", metavar="DEV", required=True, help="Parent device.")
@click.option("--mode", type=click.Choice(["bridge", "private", "vepa", "passthru"]), default="bridge",
              show_default=True)
@netns_option
@dry_run_option
def macvlan_add(name: str, lower: str, mode: str, netns: str | None, dry_run: bool) -> None:
    """Create macvlan device NAME on DEV."""
    show_plan(api.tunnel_add(name, "macvlan", [("mode", mode)], lower=lower, netns=netns, dry_run=dry_run), dry_run)


for _group, _kind in ((vxlan, "vxlan"), (vlan, "vlan"), (gretap, "gretap"), (macvlan, "macvlan")):
    _group.add_command(_del_command(_kind))

COMMANDS = [vxlan, vlan, gretap, macvlan]
