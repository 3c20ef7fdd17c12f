"""vnetctl tuntap read|guest|tunnel: the programs on the other end of a tun/tap."""

from __future__ import annotations

import sys

import click

from ..backend.process import set_name
from ..model import iso_time
from ..render.output import json_text
from ..render.safe import safe
from ..userspace import guest as guest_prog
from ..userspace import reader
from ..userspace import tunnel as tunnel_prog
from ..userspace.packet import Summary
from .common import json_option, netns_option


def _out(line: str) -> None:
    # Flushed per line: whoever follows the output through a pipe sees each packet as it comes.
    sys.stdout.write(safe(line) + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    click.echo(safe(line), err=True)


@click.command("read")
@click.argument("dev")
@click.option("--mode", type=click.Choice(["tun", "tap"]), default=None,
              help="tun: IP packets; tap: Ethernet frames. Detected for an existing device; a missing one is made tun.")
@netns_option
@click.option("--queues", metavar="N", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="Attach N queues of a multi-queue device (IFF_MULTI_QUEUE) and read them all.")
@click.option("--count", metavar="N", type=click.IntRange(min=1), default=None, help="Stop after N packets.")
@json_option
@click.option("--pcap", metavar="FILE", type=click.Path(dir_okay=False), default=None,
              help="Also write every packet to FILE (pcap; tcpdump -r reads it).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing per packet (fastest); only the summary.")
def read(dev: str, mode: str | None, netns: str | None, queues: int, count: int | None, as_json: bool, pcap: str | None,
         quiet: bool) -> None:
    """Attach to (or create) tun/tap DEV and print one line per packet read from it.

    An existing device is attached as what it is (tun or tap, single- or multi-queue); a
    multi-queue one takes other programs' queues beside this one. Each line gives the bytes
    read and a decoded summary (IPv4/IPv6, ARP, ICMP type, UDP/TCP ports); --json prints JSON
    Lines (with a timestamp). On exit (Ctrl-C, SIGTERM or --count) a summary of packets, bytes
    and rate goes to stderr.
    """
    def show(s: Summary) -> None:
        if as_json:
            _out(json_text({"time": iso_time(), **s.as_dict()}, pretty=False))
        else:
            _out(f"Read {s.len} bytes from tun/tap device: {s.line()}")

    def ready(attached: str) -> None:
        where = f" in namespace {netns}" if netns else ""
        _err(f"reading {attached} {dev}{where}" + (f" ({queues} queues)" if queues > 1 else "") + "; Ctrl-C to stop")

    set_name("vnetctl-read")
    stats = reader.read(dev, mode, netns, count, None if quiet else show, pcap, on_ready=ready, queues=queues)
    _err(stats.line())


@click.command("guest")
@click.argument("dev")
@click.option("--ip", "cidr", metavar="CIDR", default=None, help="The guest's static address, e.g. 10.0.0.5/24.")
@click.option("--mac", metavar="MAC", default=None, help="The guest's MAC (default: a random locally administered one).")
@netns_option
@click.option("--dhcp", "use_dhcp", is_flag=True, help="Obtain the address from a DHCP server on the segment.")
@click.option("--count", metavar="N", type=click.IntRange(min=1), default=None, help="Stop after answering N requests.")
@json_option
def guest(dev: str, cidr: str | None, mac: str | None, netns: str | None, use_dhcp: bool, count: int | None,
          as_json: bool) -> None:
    """Play a VM on tap DEV: own a MAC, answer ARP and ping, static or DHCP.

    One line per event (ready, ARP and ping answered, DHCP); --json prints JSON Lines, the
    last one the summary. On exit a summary goes to stderr.
    """
    set_name("vnetctl-guest")

    def show(e: guest_prog.Event) -> None:
        _out(json_text(e, pretty=False) if as_json else str(e))

    stats = guest_prog.run(dev, cidr, mac, netns, use_dhcp, on_event=show, count=count)
    if as_json:
        _out(json_text(stats, pretty=False))
    _err(stats.line())


@click.command("tunnel")
@click.argument("dev")
@click.option("--local", required=True, metavar="IP:PORT", help="Underlay address and UDP port to listen on.")
@click.option("--remote", default=None, metavar="IP:PORT", help="The peer for every packet without a --route.")
@netns_option
@click.option("--route", "routes", multiple=True, metavar="CIDR=IP:PORT",
              help="Send packets for CIDR to that peer (repeatable; longest prefix wins), like flannel's subnet map.")
@click.option("--queues", metavar="N", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="tun queues (IFF_MULTI_QUEUE), each with its own worker threads.")
@click.option("--offload/--no-offload", default=True, show_default=True,
              help="vnet_hdr + TSO: move 64 KB GSO packets per datagram (both ends must agree).")
@click.option("--udp-gso/--no-udp-gso", default=None,
              help="Send each 64 KB packet with UDP_SEGMENT instead of as one datagram the underlay fragments "
                   "[default: on with --offload where the kernel has it; off by itself where the peer gets it in pieces].")
@click.option("--count", metavar="N", type=click.IntRange(min=1), default=None,
              help="Stop after N packets (both directions together).")
@json_option
def tunnel(dev: str, local: str, remote: str | None, netns: str | None, routes: tuple[str, ...], queues: int,
           offload: bool, udp_gso: bool | None, count: int | None, as_json: bool) -> None:
    """Carry IP packets between tun DEV and UDP peers (OpenVPN / flannel-UDP)."""
    set_name("vnetctl-tunnel")
    stats = tunnel_prog.serve(dev, local, remote, list(routes), netns, queues, offload, udp_gso, count,
                              on_ready=lambda t: _err(t.describe() + "; Ctrl-C to stop"), on_note=_err)
    if as_json:
        _out(json_text(stats.as_dict(), pretty=False))
    _err(stats.line())

PROGRAMS = [read, guest, tunnel]
