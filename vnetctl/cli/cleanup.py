"""vnetctl cleanup."""

from __future__ import annotations

import click

from ..lab.cleanup import cleanup as run_cleanup
from ..render.output import emit_json, script, stderr_console
from .common import dry_run_option, json_option


@click.command("cleanup")
@dry_run_option
@json_option
def cleanup(dry_run: bool, as_json: bool) -> None:
    """Remove everything vnetctl owns, and nothing else.

    Found by ownership marker and recorded state, never by name: processes labs started,
    namespaces and devices vnetctl made, the labs' state.
    """
    done = run_cleanup(dry_run=dry_run)
    if as_json:
        emit_json({"dry_run": dry_run, "actions": [a.to_json() for a in done]})
    elif dry_run or done:
        script(a.line() for a in done)
    if not done and not as_json:
        stderr_console().print("nothing of vnetctl's found")


COMMANDS = [cleanup]
