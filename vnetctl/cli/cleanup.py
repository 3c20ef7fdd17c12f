"""vnetctl cleanup."""

from __future__ import annotations

import click

from ..lab.cleanup import cleanup as run_cleanup
from ..render.output import emit_json, script, stderr_console
from ..render.safe import safe
from .common import dry_run_option, json_option


@click.command("cleanup")
@click.option("--all", "all_", is_flag=True, help="Also what plain vnetctl commands made (owner cli), not only labs.")
@click.option("--owner", metavar="NAME",
              help="Only what this owner made: a lab's name, 'cli', or 'plan:LAB' (what a lab plan script made).")
@dry_run_option
@json_option
def cleanup(all_: bool, owner: str | None, dry_run: bool, as_json: bool) -> None:
    """Remove what labs left behind, and nothing else.

    Found by journal, ownership marker and recorded state, never by name: processes labs
    started, namespaces and devices they made, their state. Objects made by plain vnetctl
    commands only with --all or --owner cli.
    """
    warnings: list[str] = []
    done = run_cleanup(dry_run=dry_run, owner=owner, all_=all_, warnings=warnings)
    for w in warnings:
        click.echo(f"warning: {safe(w)}", err=True)
    if as_json:
        emit_json({"dry_run": dry_run, "actions": [a.to_json() for a in done], "warnings": warnings})
    elif dry_run or done:
        script(a.line() for a in done)
    if not done and not as_json:
        stderr_console().print("nothing removed" if warnings else "nothing of vnetctl's found")


COMMANDS = [cleanup]
