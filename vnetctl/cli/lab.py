"""vnetctl lab plan|up|check|status|down|list."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .. import lab as labs
from ..errors import LabError, UsageError
from ..render.safe import safe
from .common import json_option

F = Callable[..., Any]


def set_option(f: F) -> F:
    """--set key=value: a lab parameter (repeatable)."""
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                        help="Set a lab parameter, e.g. --set hosts=100 (repeatable).")(f)


def params(sets: tuple[str, ...]) -> dict[str, str]:
    """--set values as a dict."""
    out = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid --set {item!r}", "write --set KEY=VALUE")
        out[key.strip()] = value
    return out


def _load(path: str, sets: tuple[str, ...], by_name: bool = False) -> labs.Lab:
    try:
        return labs.load_target(path, params(sets)) if by_name else labs.load(path, params(sets))
    except LabError as e:
        _problems(e)
        raise


def _problems(e: LabError) -> None:
    for line in e.problems:
        click.echo(line, err=True)
    e.message = f"invalid lab file: {len(e.problems)} problem(s)"


def _bar() -> Any:
    """A transient rich progress bar on stderr (only on a terminal: rich costs ~40 ms to import)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..render.output import stderr_console
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=stderr_console(), transient=True)


@click.group()
def lab() -> None:
    """Declarative labs: namespaces, devices, processes and checks from a YAML file."""


@lab.command("plan")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
@json_option
def plan(file: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Print the lab as an ip/brctl shell script; nothing changes.

    With --json, the Steps `lab up` would run and the checks, as documented in docs/json.md.
    """
    the_lab = _load(file, sets)
    if as_json:
        from ..render.output import emit_json
        from ..render.shapes import plan_json
        emit_json(plan_json(the_lab))
        return
    from ..render.output import script
    script(the_lab.script())


@lab.command("up")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
@click.option("--replace", is_flag=True,
              help="If the lab is up and differs, change only what differs (transactionally) and say what changed.")
@json_option
def up(file: str, sets: tuple[str, ...], replace: bool, as_json: bool) -> None:
    """Bring a lab up, journaled and transactional.

    Each Step is journaled before it runs; a failure, Ctrl-C or SIGTERM undoes what was done,
    in reverse. With --replace, a lab that is up is brought to FILE (or new --set values) by
    undoing and applying only the Steps that differ; a failure puts the lab back as it was.
    With --json, what was made goes to stdout (docs/json.md).
    """
    the_lab = _load(file, sets)
    if sys.stderr.isatty() and not replace:
        with _bar() as bar:
            task = bar.add_task(f"lab {the_lab.name}", total=len(the_lab.plan()))
            result = the_lab.up(lambda i, n, step: bar.update(task, completed=i))
    else:
        result = the_lab.replace() if replace else the_lab.up()
    if result == "replaced":
        _replaced(the_lab, as_json)
        return
    # plain echo, not rich: `lab up` in a script should not pay for loading rich
    for note in the_lab.notes():
        click.echo(f"note: {note}", err=True)
    if as_json:
        from ..render.output import emit_json
        from ..render.shapes import up_json
        emit_json(up_json(the_lab, result))
    if result == "unchanged":
        click.echo(f"lab {the_lab.name} is already up and identical; nothing changed", err=True)
    else:
        click.echo(f"lab {the_lab.name} is up ({len(the_lab.plan())} steps)", err=True)


def _replaced(the_lab: labs.Lab, as_json: bool) -> None:
    """Say what `up --replace` changed: each Step undone (-) and applied (+), as its command."""
    change = the_lab.change
    assert change is not None
    if as_json:
        from ..render.output import emit_json
        from ..render.shapes import step_json
        emit_json({"lab": the_lab.name, "result": "replaced", "made": [step_json(s) for s in change.added],
                   "removed": [step_json(s) for s in change.removed]})
    for sign, steps in (("-", change.removed), ("+", change.added)):
        for step in steps:
            click.echo(f"{sign} " + "\n  ".join(safe(line) for line in step.command().splitlines()), err=True)
    click.echo(f"lab {the_lab.name} replaced: {len(change.removed)} step(s) undone, {len(change.added)} applied", err=True)


@lab.command("check")
@click.argument("file", metavar="FILE|LAB")
@set_option
@click.option("--only", "only", multiple=True, metavar="NAME", help="Run only the check with this name (repeatable).")
@json_option
def check(file: str, sets: tuple[str, ...], only: tuple[str, ...], as_json: bool) -> int:
    """Run the lab's checks; exit 0 only if all pass.

    FILE|LAB is a lab file, or the name of a lab that is up (its file and parameters as it came up).
    """
    from ..render.output import Col, emit_json, table
    the_lab = _load(file, sets, by_name=True)
    results = (the_lab.only(only) if only else the_lab).check()
    if as_json:
        emit_json(results)
    else:
        table([Col("CHECK", cut=True), "KIND", "RESULT", Col("SECONDS", drop=1), Col("DETAIL", cut=True)],
              [[r.name, r.kind, "pass" if r.ok else "FAIL", f"{r.seconds:.2f}", r.detail] for r in results])
        for r in results:
            if not r.ok and r.output:  # what the failed check saw, e.g. a capture's first packets as tcpdump printed them
                click.echo(f"\n{safe(r.name)}: the first {len(r.output)} lines it saw")
                click.echo("\n".join("  " + safe(line) for line in r.output))
    failed = labs.check_errors(results)
    if failed:
        click.echo(f"Error: {failed} of {len(results)} check(s) failed", err=True)
        return 1
    return 0


@lab.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("target", metavar="LAB")
@click.argument("node")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(target: str, node: str, argv: tuple[str, ...]) -> None:
    """Run a command in node NODE (a namespace) of lab LAB, by name or file.

    `lab exec LAB NODE -- CMD`: like ip netns exec without knowing the namespace's name; the exit code is CMD's.
    """
    from ..backend import exec as nsexec
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    nsexec.exec_in(labs.node(target, node), args)


def _netns_many(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from .common import global_value
    return value or ((global_value("netns"),) if global_value("netns") else ())


@lab.command("export")
@click.option("-n", "--netns", "netns", multiple=True, metavar="NS", callback=_netns_many,
              help="Export only this named namespace (repeatable); default: this namespace and every named one.")
@click.option("--name", default="exported", show_default=True, help="The lab's name in the file.")
@json_option
def export(netns: tuple[str, ...], name: str, as_json: bool) -> None:
    """Write what runs on this host as a lab file that `lab up` reproduces.

    Namespaces, veths, bridges and their ports, tun/taps, VXLAN, macvlan and the other kinds a lab
    declares, addresses, static routes and changed net.* sysctls; what a lab cannot make is left out
    and named (on stderr and as comments at the end).
    """
    from ..lab.export import export as run_export
    from ..lab.export import to_yaml
    from ..lab.paths import valid_name
    if not valid_name(name):
        raise UsageError(f"invalid lab name {name!r}", "1-64 of A-Z a-z 0-9 _ . -")
    doc, notes = run_export(list(netns) or None, name)
    for note in notes:
        click.echo(f"note: {safe(note)}", err=True)
    if as_json:
        from ..render.output import emit_json
        emit_json({"lab": doc, "left_out": notes})
    else:
        sys.stdout.write(to_yaml(doc, notes))


@lab.command("status")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@set_option
@json_option
def status(file: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """What is up, and drift between the file, the lab's state and the kernel."""
    try:
        if sys.stderr.isatty():
            with _bar() as bar:
                tasks: dict[str, Any] = {}

                def show(name: str, done: int, total: int) -> None:
                    task = tasks.get(name)
                    if task is None:
                        task = tasks[name] = bar.add_task(f"lab {name}: reading namespaces", total=total)
                    bar.update(task, completed=done)
                found = labs.status(file, params(sets), show)
        else:
            found = labs.status(file, params(sets))
    except LabError as e:
        _problems(e)
        raise
    from ..render.output import Col, emit_json, table
    if as_json:
        emit_json(found)
        return
    table(["LAB", "STATUS", Col("FILE CHANGED", drop=1), "STEPS", Col("PROCESSES", cut=True), Col("DRIFT", cut=True)],
          [[s["name"], s["status"] + "".join(f"; {h} {v}" for h, v in s.get("hosts", {}).items()) + _plan_copy(s.get("plan")),
            s["file_drift"], s.get("steps"),
            ",".join(f"{p['name']}:{p['pid']}{'' if p['running'] else ' (dead)'}" for p in s.get("processes", [])),
            "; ".join(s["drift"]) or "none"] for s in found])


def _plan_copy(plan: dict[str, Any] | None) -> str:
    """'; a copy made by its plan script: ...' when `lab plan | sh` made one."""
    if not plan:
        return ""
    running = sum(1 for p in plan["processes"] if p["running"])
    return (f"; a copy made by its plan script: {len(plan['namespaces'])} namespace(s), {len(plan['devices'])} device(s), "
            f"{running} process(es) running (owner {plan['owner']})")


@lab.command("down")
@click.argument("target", metavar="FILE|NAME")
@set_option
@json_option
def down(target: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Remove exactly what the lab made; idempotent, works after a crash.

    What to remove comes from the lab's journal, not from the file: a lab that is not up is a
    no-op, and a lab whose `up` was killed is finished off.
    """
    try:
        name = labs.name_of(target, params(sets))
    except LabError as e:
        _problems(e)
        raise
    warnings: list[str] = []
    undone = labs.down(name, warnings=warnings)
    for w in warnings:
        click.echo(f"warning: {safe(w)}", err=True)
    if as_json:
        from ..render.output import emit_json
        from ..render.shapes import down_json
        emit_json(down_json(name, undone))
    click.echo(f"lab {name}: " + (f"down ({len(undone)} steps undone)" if undone else "not up; nothing to do"), err=True)


@lab.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Labs that are up (or partly up) on this host."""
    from ..render.output import Col, emit_json, table
    found = labs.labs()
    if as_json:
        emit_json(found)
        return
    table(["LAB", "STATUS", "STEPS", Col("PROCESSES", cut=True), Col("FILE", drop=1)],
          [[x["name"], x["status"], x["steps"], ",".join(f"{p['name']}:{p['pid']}" for p in x["processes"]), x["file"]]
           for x in found])


COMMANDS = [lab]
