"""vnetctl link set|show."""

from __future__ import annotations

from typing import Any

import click

from .. import api, tcunits
from ..errors import UsageError
from ..ops.link_props import ADDR_GEN_MODES
from ..render.links import detail_lines, details_json
from ..render.output import Col, emit_json, table
from ..render.safe import safe
from ..render.shapes import link_json
from . import link_add
from .common import dry_run_option, json_option, netns_option, show_plan


@click.group()
def link() -> None:
    """Any network device: show, change or delete it (like ip link)."""


def _shape(rate: str | None, burst: str | None, latency: str | None, delay: str | None, jitter: str | None,
           loss: str | None) -> dict[str, Any] | None:
    """The shaping options as Shape's fields (None: none given)."""
    if rate is None and delay is None and jitter is None and loss is None:
        if burst is not None or latency is not None:
            raise UsageError("--burst and --latency go with --rate", "e.g. --rate 10mbit --burst 32kb; nothing was changed")
        return None
    out: dict[str, Any] = {}
    if rate is not None:
        out["rate"] = tcunits.parse_rate(rate)
        if out["rate"] == 0 and (burst or latency):
            raise UsageError("--rate none removes the limit: --burst and --latency have nothing to shape", "leave them out")
    if burst is not None:
        out["burst"] = tcunits.parse_size(burst)
    if latency is not None:
        out["latency_ms"] = max(1, round(tcunits.parse_time(latency, "latency")))
    for key, value in (("delay_ms", delay), ("jitter_ms", jitter)):
        if value is not None:
            out[key] = tcunits.parse_time(value, key[:-3])
    if loss is not None:
        out["loss_pct"] = tcunits.parse_loss(loss)
    return out


# ip link set's words and the option each stands for (flags take no value)
SET_WORDS = {"up": "up_", "down": "down_", "nomaster": "nomaster", "mtu": "mtu", "master": "master",
             "netns": "to_netns", "name": "new_name", "alias": "alias", "address": "address",
             "txqueuelen": "txqueuelen", "txqlen": "txqueuelen", "addrgenmode": "addrgenmode"}
SET_FLAGS = ("up", "down", "nomaster")


def set_words(words: tuple[str, ...]) -> dict[str, Any]:
    """ip link set's words (`netns ns1 mtu 1400 up`) as set's options; `dev DEV` may lead, as in ip."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word not in SET_WORDS:
            raise UsageError(f"link set has no word {word!r}",
                             f"ip's words: {', '.join(SET_WORDS)} (or the --options of 'vnetctl link set --help')")
        if word in SET_FLAGS:
            value: Any = True
        elif i + 1 == len(words):
            raise UsageError(f"'{word}' needs a value", f"e.g. vnetctl link set eth0 {word} VALUE; nothing was changed")
        else:
            i += 1
            value = words[i]
            if word in ("mtu", "txqueuelen", "txqlen"):
                if not value.isdigit():
                    raise UsageError(f"'{word} {value}': not a number", "give a whole number; nothing was changed")
                value = int(value)
                if word == "mtu" and not 68 <= value <= 65535:
                    raise UsageError(f"'mtu {value}' is out of range", "an MTU is 68 to 65535; nothing was changed")
        if SET_WORDS[word] in out:
            raise UsageError(f"'{word}' given twice", "give it once; nothing was changed")
        out[SET_WORDS[word]] = value
        i += 1
    return out


@link.command("set")
@click.argument("dev")
@click.argument("words", nargs=-1, metavar="[up|down|mtu N|master BR|nomaster|netns NS|name NEW|alias TEXT|address MAC|"
                "txqueuelen N|addrgenmode MODE]...")
@netns_option
@click.option("--up", "up_", is_flag=True, help="Bring the device up.")
@click.option("--down", "down_", is_flag=True, help="Bring the device down.")
@click.option("--mtu", metavar="N", type=click.IntRange(68, 65535), help="Set the MTU.")
@click.option("--master", metavar="BRIDGE", help="Enslave to BRIDGE.")
@click.option("--nomaster", is_flag=True, help="Release from its bridge.")
@click.option("--to-netns", "--move-to", "to_netns", metavar="NS",
              help="Move into namespace NS (name, pid:PID or path; 'host' for this namespace).")
@click.option("--name", "new_name", metavar="NEW", help="Rename the device.")
@click.option("--alias", metavar="TEXT", help="Set its alias (ifalias; '' removes it).")
@click.option("--address", "--mac", "address", metavar="MAC", help="Set its MAC address.")
@click.option("--txqueuelen", "--txqlen", "txqueuelen", metavar="N", type=click.IntRange(0, 2**32 - 1),
              help="Set its transmit queue length.")
@click.option("--addrgenmode", type=click.Choice(ADDR_GEN_MODES),
              help="IPv6 address generation; 'none' (before up): no link-local address, no IPv6 sent.")
@click.option("--rate", metavar="RATE", help="Limit its egress to RATE with tc tbf (10mbit, 1gbit; 'none' removes it).")
@click.option("--burst", metavar="SIZE", help="Token bucket size for --rate (32kb; default 10 ms of RATE, at least 32kb).")
@click.option("--latency", metavar="TIME", help="Longest a packet waits in the bucket (default 50ms).")
@click.option("--delay", metavar="TIME", help="Delay egress by TIME (tc netem, where the kernel has it).")
@click.option("--jitter", metavar="TIME", help="Vary the delay by TIME (netem).")
@click.option("--loss", metavar="PCT", help="Drop PCT percent of egress packets (netem).")
@dry_run_option
def set_(dev: str, words: tuple[str, ...], netns: str | None, up_: bool, down_: bool, mtu: int | None,
         master: str | None, nomaster: bool, to_netns: str | None, new_name: str | None, alias: str | None,
         address: str | None, txqueuelen: int | None, addrgenmode: str | None, rate: str | None,
         burst: str | None, latency: str | None, delay: str | None, jitter: str | None, loss: str | None,
         dry_run: bool) -> None:
    """Change DEV: name, MTU, alias, MAC, queue, rate, bridge, namespace, then up/down.

    ip's words work too: 'vnetctl link set veth0 netns ns1 mtu 1400 up' (or 'link set dev veth0 ...').
    """
    if dev == "dev" and words:
        dev, words = words[0], words[1:]
    given: dict[str, Any] = {"up_": up_, "down_": down_, "nomaster": nomaster, "mtu": mtu, "master": master,
                             "to_netns": to_netns, "new_name": new_name, "alias": alias, "address": address,
                             "txqueuelen": txqueuelen, "addrgenmode": addrgenmode}
    for key, value in set_words(words).items():
        if given[key] not in (None, False):
            raise UsageError(f"{key.rstrip('_').replace('_', '-')} given both as an option and as a word",
                             "give it once; nothing was changed")
        given[key] = value
    up_, down_ = given.pop("up_"), given.pop("down_")
    if up_ and down_:
        raise UsageError("up and down contradict each other", "give one of them; nothing was changed")
    up = True if up_ else False if down_ else None
    show_plan(api.link_set(dev, netns, up=up, **given,
                           shape=_shape(rate, burst, latency, delay, jitter, loss), dry_run=dry_run), dry_run)


@link.command("add", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@netns_option
@dry_run_option
@click.argument("name")
@click.argument("words", nargs=-1, required=True, type=click.UNPROCESSED, metavar="[type] KIND [OPTIONS...]")
@click.pass_context
def add(ctx: click.Context, netns: str | None, dry_run: bool, name: str, words: tuple[str, ...]) -> None:
    """Create device NAME of KIND as ip link add does (veth, bridge, vxlan, vlan...).

    The options are the KIND's own (vnetctl KIND add --help) or ip's words, e.g.
    'vnetctl link add vx0 type vxlan id 42 remote 10.0.0.2 dev eth0' or
    'vnetctl link add v0 type veth peer name v1'.
    """
    extra = (["-n", netns] if netns else []) + (["--dry-run"] if dry_run else [])
    link_add.forward(ctx, name, [*words, *extra])


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
@click.option("-d", "--details", is_flag=True, help="Kind details (VNI, remote, VLAN id, lower device), bridge port "
              "attributes, alias, txqueuelen and root qdisc (like ip -d).")
@click.option("-s", "--stats", is_flag=True, help="Counters: bytes, packets, errors, dropped (like ip -s).")
@json_option
def show(dev: str | None, netns: str | None, details: bool, stats: bool, as_json: bool) -> None:
    """Show devices (ip link show): kind, state, MTU, MAC, bridge, vnetctl owner.

    STATE is the admin state with the carrier, as ip's flags say it: UP, UP,NO-CARRIER or DOWN.
    """
    every = api.links(netns)
    names = {lk.index: lk.name for lk in every}
    chosen = [api.link(dev, netns)] if dev else every
    rows = [link_json(lk, names) for lk in chosen]
    if details:
        qdiscs = api.root_qdiscs(netns)
        for row, lk in zip(rows, chosen, strict=True):
            row["details"] = details_json(lk, names, qdiscs.get(lk.index))
    if stats:
        counters = api.link_stats(netns)
        for row in rows:
            row["stats"] = counters.get(row["ifindex"])
    if as_json:
        emit_json(rows)
        return
    if details or stats:
        blocks(rows)
        return
    table(["IFINDEX", "NAME", "KIND", "STATE", Col("MTU", drop=2), Col("MAC", drop=3), Col("MASTER", drop=1), Col("OWNER", drop=4)],
          [[r["ifindex"], r["name"], r["kind"], r["link_state"], r["mtu"], r["mac"], r["master"], r["owner"]] for r in rows])


def blocks(rows: list[dict[str, Any]]) -> None:
    """Each device on a line of its own, its details and counters indented under it (as ip -d -s link does)."""
    for r in rows:
        head = [f"{r['ifindex']}: {r['name']}", r["kind"] or "-", r["link_state"], f"mtu {r['mtu']}"]
        head += [r["mac"]] if r["mac"] else []
        head += [f"master {r['master']}"] if r["master"] else []
        head += [f"owner {r['owner']}"] if r["owner"] else []
        for line in ["  ".join(head), *detail_lines(r)]:
            click.echo(safe(line))


COMMANDS = [link]
