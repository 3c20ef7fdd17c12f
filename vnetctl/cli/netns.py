"""vnetctl netns add|del|list|exec."""

from __future__ import annotations

import click

from .. import api
from ..backend import exec as nsexec
from ..render.inspect_text import netns_label
from ..render.output import Col, emit_json, table
from .common import dry_run_option, json_option, show_plan, warn


@click.group()
def netns() -> None:
    """Named network namespaces (like ip netns)."""


@netns.command("add")
@click.argument("name")
@dry_run_option
def add(name: str, dry_run: bool) -> None:
    """Create namespace NAME."""
    show_plan(api.netns_add(name, dry_run=dry_run), dry_run)


@netns.command("del")
@click.argument("name")
@click.option("--force", is_flag=True, help="Unmount it even while processes are inside (it lives on while they run).")
@dry_run_option
def delete(name: str, force: bool, dry_run: bool) -> None:
    """Delete namespace NAME (refused while processes are inside)."""
    show_plan(api.netns_del(name, force=force, dry_run=dry_run), dry_run)


@netns.command("list")
@click.option("--all", "all_", is_flag=True, help="Also list unnamed namespaces found through /proc/PID/ns/net.")
@json_option
def list_(all_: bool, as_json: bool) -> None:
    """List namespaces with their nsfs inode and the processes inside."""
    warnings: list[str] = []
    entries = api.netns_list(all_, warnings)
    warn(warnings)
    if as_json:
        emit_json([{k: e[k] for k in ("name", "inode", "pids", "commands", "current", "held")} for e in entries])
        return
    table(["NAME", Col("INODE", drop=1), Col("PIDS", drop=2), Col("COMMANDS", cut=True)],
          [[netns_label(e["name"], e["current"], f"pid:{e['pids'][0]}" if e["pids"] else None, e["inode"]), e["inode"],
            _short(e["pids"]), ",".join(e["commands"][:4]) or (f"(held by {e['held']})" if e["held"] else "")]
           for e in entries])


def _short(pids: list[int]) -> str:
    return ",".join(map(str, pids[:6])) + (f",+{len(pids) - 6}" if len(pids) > 6 else "") if pids else "-"


@netns.command("identify")
@click.argument("pid", type=click.IntRange(min=1), metavar="PID")
def identify(pid: int) -> None:
    """Name the namespace process PID is in, like ip netns identify.

    Prints nothing when that namespace has no name.
    """
    for name in api.netns_identify(pid):
        click.echo(name)


@netns.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name: str, argv: tuple[str, ...]) -> None:
    """Run a command inside namespace NAME, like ip netns exec.

    NAME is a name, pid:PID or an nsfs path.
    """
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    nsexec.exec_in(name, args)


COMMANDS = [netns]
