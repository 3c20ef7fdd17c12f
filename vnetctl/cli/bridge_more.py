"""vnetctl bridge fdb|link|vlan|set: the forwarding database, port attributes and VLANs (like the bridge tool)."""

from __future__ import annotations

import click

from .. import bridging
from ..render.output import Col, emit_json, table
from .common import dry_run_option, json_option, netns_option, show_plan


@click.group()
def fdb() -> None:
    """Forwarding database: static MACs on ports, VXLAN endpoints (bridge fdb)."""


@fdb.command("show")
@click.argument("dev", required=False)
@click.option("--br", "bridge", metavar="BRIDGE", help="Only the entries of BRIDGE and its ports.")
@netns_option
@json_option
def fdb_show(dev: str | None, bridge: str | None, netns: str | None, as_json: bool) -> None:
    """Show forwarding entries (bridge fdb show), of every device or of DEV."""
    found = bridging.fdb(netns, dev, bridge)
    if as_json:
        emit_json(found)
        return
    table(["MAC", "DEV", "DST", Col("VNI", drop=2), Col("VLAN", drop=3), Col("MASTER", drop=1), "STATE", Col("FLAGS", drop=4)],
          [[e["mac"], e["dev"], e["dst"], e["vni"], e["vlan"], e["master"], e["state"], ",".join(e["flags"])] for e in found])


def _entry_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--port", type=click.IntRange(1, 65535), metavar="N", help="UDP port of the endpoint (VXLAN).")(f)
    f = click.option("--vni", type=click.IntRange(0, 2**24 - 1), metavar="N", help="VNI of the endpoint (VXLAN).")(f)
    f = click.option("--dst", metavar="IP", help="Remote endpoint (VTEP) address, for a VXLAN device.")(f)
    return click.option("--master", is_flag=True,
                        help="The bridge's table (a static MAC on port DEV), not DEV's own (a VXLAN's).")(f)


def _adder(verb: str, append: bool) -> click.Command:
    @click.command(verb)
    @click.argument("mac")
    @click.argument("dev")
    @_entry_options
    @click.option("--permanent", is_flag=True, help="A local address of DEV (state permanent) instead of static.")
    @netns_option
    @dry_run_option
    def add(mac: str, dev: str, master: bool, dst: str | None, vni: int | None, port: int | None, permanent: bool,
            netns: str | None, dry_run: bool) -> None:
        show_plan(bridging.fdb_add(mac, dev, netns, dst, vni, port, master, permanent, append, dry_run=dry_run), dry_run)

    add.help = ("Add one more destination for MAC on DEV (bridge fdb append).\n\n"
                "e.g. 00:00:00:00:00:00 vx0 --dst 10.0.0.3: one more VTEP in a VXLAN's flood list." if append else
                "Add a forwarding entry for MAC on DEV (bridge fdb add).\n\n"
                "e.g. 02:00:00:00:00:01 vx0 --dst 10.0.0.2 for a VXLAN endpoint, "
                "or 02:00:00:00:00:01 PORT --master for a static MAC on a bridge port.")
    return add


fdb.add_command(_adder("add", False))
fdb.add_command(_adder("append", True))


@fdb.command("del")
@click.argument("mac")
@click.argument("dev")
@_entry_options
@netns_option
@dry_run_option
def fdb_del(mac: str, dev: str, master: bool, dst: str | None, vni: int | None, port: int | None, netns: str | None,
            dry_run: bool) -> None:
    """Remove MAC from DEV's forwarding entries (bridge fdb del).

    With --dst, only that destination of the MAC goes.
    """
    show_plan(bridging.fdb_del(mac, dev, netns, dst, vni, port, master, dry_run=dry_run), dry_run)


@click.group("link")
def port() -> None:
    """Bridge ports and their attributes (like bridge link)."""


@port.command("show")
@click.argument("dev", required=False)
@netns_option
@json_option
def port_show(dev: str | None, netns: str | None, as_json: bool) -> None:
    """Show bridge ports: STP state, learning, flooding, isolated (bridge link show)."""
    found = bridging.ports(netns, dev)
    if as_json:
        emit_json(found)
        return

    def onoff(v: object) -> str:
        return "-" if v is None else "on" if v else "off"
    table(["PORT", "MASTER", "STATE", "LEARNING", "FLOOD", "ISOLATED", Col("HAIRPIN", drop=1), Col("COST", drop=2)],
          [[p["name"], p["master"], p["state"], onoff(p["learning"]), onoff(p["flood"]), onoff(p["isolated"]),
            onoff(p["hairpin"]), p["cost"]] for p in found])


@port.command("set")
@click.argument("dev")
@click.option("--state", type=click.Choice(["disabled", "listening", "learning", "forwarding", "blocking"]),
              help="STP state of the port, while the bridge's STP is off (the kernel then moves a port on to "
              "forwarding; disabled stays).")
@click.option("--learning/--no-learning", default=None, help="Learn source MACs arriving on the port.")
@click.option("--flood/--no-flood", default=None, help="Flood unknown unicast to the port.")
@click.option("--mcast-flood/--no-mcast-flood", default=None, help="Flood multicast to the port.")
@click.option("--bcast-flood/--no-bcast-flood", default=None, help="Flood broadcast to the port.")
@click.option("--isolated/--no-isolated", default=None, help="An isolated port talks only to non-isolated ports.")
@click.option("--hairpin/--no-hairpin", default=None, help="Send frames back out of the port they came in on.")
@click.option("--cost", type=click.IntRange(1, 65535), metavar="N", help="STP path cost.")
@click.option("--priority", type=click.IntRange(0, 63), metavar="N", help="STP port priority.")
@netns_option
@dry_run_option
def port_set(dev: str, netns: str | None, dry_run: bool, **attrs: object) -> None:
    """Change bridge port DEV's attributes (bridge link set dev DEV ...)."""
    show_plan(bridging.port_set(dev, netns, dry_run=dry_run, **attrs), dry_run)


@click.group("vlan")
def vlan() -> None:
    """Per-port VLANs of a VLAN-filtering bridge (like bridge vlan).

    They need a kernel with bridge VLAN filtering (69 where it lacks it).
    """


def _vlan_cmd(verb: str) -> click.Command:
    @click.command(verb)
    @click.argument("vid", type=int)
    @click.argument("dev")
    @click.option("--pvid", is_flag=True, help="Untagged frames entering DEV belong to VID.")
    @click.option("--untagged", is_flag=True, help="Frames of VID leave DEV untagged.")
    @netns_option
    @dry_run_option
    def cmd(vid: int, dev: str, pvid: bool, untagged: bool, netns: str | None, dry_run: bool) -> None:
        show_plan(bridging.vlan(dev, vid, netns, pvid, untagged, delete=verb == "del", dry_run=dry_run), dry_run)

    cmd.help = f"{'Add VLAN VID to' if verb == 'add' else 'Remove VLAN VID from'} bridge port DEV (bridge vlan {verb})."
    return cmd


vlan.add_command(_vlan_cmd("add"))
vlan.add_command(_vlan_cmd("del"))


@click.command("set")
@click.argument("name")
@click.option("--vlan-filtering/--no-vlan-filtering", default=None, help="Filter frames by the ports' VLANs.")
@netns_option
@dry_run_option
def bridge_set(name: str, vlan_filtering: bool | None, netns: str | None, dry_run: bool) -> None:
    """Change bridge NAME: VLAN filtering (ip link set NAME type bridge ...)."""
    show_plan(bridging.bridge_set(name, netns, vlan_filtering, dry_run=dry_run), dry_run)


SUBCOMMANDS = [fdb, port, vlan, bridge_set]
