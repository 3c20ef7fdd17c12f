"""Options and helpers shared by every noun."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..steps import Step

F = Callable[..., Any]


def netns_option(f: F) -> F:
    """-n/--netns NS: operate inside a namespace (a name, pid:PID or an nsfs path), like `ip -n`."""
    return click.option("-n", "--netns", "netns", metavar="NS", default=None,
                        help="Operate inside namespace NS: a name, pid:PID or an nsfs path (like ip -n).")(f)


def json_option(f: F) -> F:
    """--json: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (a stable, documented shape).")(f)


def dry_run_option(f: F) -> F:
    """--dry-run: print the equivalent commands and change nothing."""
    return click.option("--dry-run", is_flag=True,
                        help="Print the equivalent ip/bridge commands, one per line, and change nothing.")(f)


def show_plan(steps: list[Step], dry_run: bool) -> None:
    """After a mutating command: with --dry-run print its Steps as a shell script."""
    if dry_run:
        from ..render.output import script

        script(step.command() for step in steps)
