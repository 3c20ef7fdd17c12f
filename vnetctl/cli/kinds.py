"""vnetctl vxlan|vlan|gretap|macvlan|macvtap add|del|show: generated from the device-kind registry."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import click

from .. import api, kinds
from ..render.output import emit_json, table
from .common import dry_run_option, json_option, netns_option, show_plan


class IPAddress(click.ParamType):
    """An IP address (or, with version 4, an IPv4 address only)."""

    name = "ip"

    def __init__(self, version: int | None = None) -> None:
        self.version = version

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            self.fail(f"{value!r} is not an IP address", param, ctx)
        if self.version is not None and addr.version != self.version:
            self.fail(f"{value!r} is not an IPv{self.version} address", param, ctx)
        return str(value)


def click_option(o: kinds.Option) -> Callable[[Any], Any]:
    """One registry option as a click option with its type, range, choices and default."""
    if o.type == "bool":
        return click.option(f"--{o.name}/--no-{o.name}", default=o.default, help=o.help)
    kind: Any = {"ip": IPAddress(), "ipv4": IPAddress(4), "choice": click.Choice(o.choices)}.get(o.type, int)
    if o.range:
        kind = click.IntRange(*o.range)
    return click.option(f"--{o.name}", type=kind, required=o.required, default=o.default,
                        show_default=o.default is not None, metavar=o.metavar, help=o.help)


def kind_options(name: str) -> Callable[[Any], Any]:
    """Decorate a command with every option the kind declares (and its lower device as 'lower')."""
    kind = kinds.get(name)
    assert kind is not None

    def decorate(f: Any) -> Any:
        if kind.lower_attr:
            f = click.option(f"--{kind.lower_flag}", "lower", metavar="DEV", required=kind.lower_required,
                             help=kind.lower_help)(f)
        for o in reversed(kind.options):
            f = click_option(o)(f)
        return f
    return decorate


def _add(kind: kinds.Kind) -> click.Command:
    @click.command("add")
    @click.argument("name")
    @kind_options(kind.name)
    @netns_option
    @dry_run_option
    def add(name: str, netns: str | None, dry_run: bool, lower: str | None = None, **values: Any) -> None:
        show_plan(api.link_add(name, kind.name, lower=lower, netns=netns, dry_run=dry_run, **values), dry_run)

    where = " on DEV" if kind.lower_required else ""
    add.help = f"Create {kind.name} device NAME{where}."
    return add


def _del(kind: kinds.Kind) -> click.Command:
    @click.command("del")
    @click.argument("name")
    @netns_option
    @dry_run_option
    def delete(name: str, netns: str | None, dry_run: bool) -> None:
        show_plan(api.link_del(name, netns, kinds=(kind.name,), dry_run=dry_run), dry_run)

    delete.help = f"Delete {kind.name} device NAME."
    return delete


def _show(kind: kinds.Kind) -> click.Command:
    @click.command("show")
    @click.argument("name", required=False)
    @netns_option
    @json_option
    def show(name: str | None, netns: str | None, as_json: bool) -> None:
        found = api.kind_devices(kind.name, netns, name)
        if as_json:
            emit_json(found)
            return
        lower = [kind.lower_flag] if kind.lower_attr else []
        columns = ["name", "ifindex", "state", *lower, *kind.names()]
        table([c.upper() for c in columns], [["-" if d[c] is None else d[c] for c in columns] for d in found])

    show.help = f"Show {kind.name} devices and their options (one, or all)."
    return show


def _group(kind: kinds.Kind) -> click.Group:
    group = click.Group(kind.name, help=kind.help)
    for make in (_add, _del, _show):
        group.add_command(make(kind))
    return group


COMMANDS = [_group(k) for k in kinds.with_cli()]
