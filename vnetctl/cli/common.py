"""Options and helpers shared by every noun.

`-n NS`, `-j/--json` and `--pretty` may also be given once before the noun, as with `ip -n NS -j`
(`vnetctl -n ns1 -j link show`); the root group keeps them in its context's meta and each
command's own option falls back to them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..render.output import set_pretty, warn

if TYPE_CHECKING:
    from ..steps import Step

F = Callable[..., Any]

__all__ = ["netns_option", "json_option", "dry_run_option", "show_plan", "warn", "global_value", "netns_default",
           "refuse_unused_globals", "family_option"]


def global_value(key: str) -> Any:
    """A global option given before the noun (None when absent or outside a CLI run)."""
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta.get(f"vnetctl.{key}") if ctx is not None else None


def netns_default(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An -n option's value, or the global -n given before the noun."""
    return value if value is not None else global_value("netns")


def netns_option(f: F) -> F:
    """-n/--netns NS: operate inside a namespace (a name, pid:PID or an nsfs path), like `ip -n`."""
    return click.option("-n", "--netns", "netns", metavar="NS", default=None, callback=netns_default,
                        help="Operate inside namespace NS: a name, pid:PID or an nsfs path (like ip -n).")(f)


def _json_cb(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    return bool(value or global_value("json"))


def _pretty_cb(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta["vnetctl.json"] = True
        set_pretty(True)


def json_option(f: F) -> F:
    """-j/--json: machine-readable output; --pretty: the same, indented."""
    f = click.option("--pretty", is_flag=True, expose_value=False, is_eager=True, callback=_pretty_cb,
                     help="JSON, indented (implies --json).")(f)
    return click.option("-j", "--json", "as_json", is_flag=True, callback=_json_cb,
                        help="Print JSON: one line when piped, indented on a terminal (shapes: docs/json.md).")(f)


def family_option(f: F) -> F:
    """-4/-6: one address family ('inet' / 'inet6'), like ip -4 / ip -6."""
    f = click.option("-6", "family", flag_value="inet6", help="IPv6 only (like ip -6).")(f)
    return click.option("-4", "family", flag_value="inet", help="IPv4 only (like ip -4).")(f)


def dry_run_option(f: F) -> F:
    """--dry-run: print the equivalent commands and change nothing."""
    return click.option("--dry-run", is_flag=True,
                        help="Print the equivalent ip/bridge commands, one per line, and change nothing.")(f)


def show_plan(steps: list[Step], dry_run: bool) -> None:
    """After a mutating command: with --dry-run print its Steps as a shell script."""
    if dry_run:
        from ..render.output import script

        script(step.command() for step in steps)


def refuse_unused_globals(cmd: click.Command, path: str) -> None:
    """Make cmd (and its subcommands) refuse a global -n or -j it has no use for, instead of ignoring it."""
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            refuse_unused_globals(sub, f"{path} {name}")
        if not cmd.invoke_without_command:
            return
    params = {p.name for p in cmd.params}
    callback = cmd.callback
    if callback is None or getattr(callback, "_vnetctl_guarded", False):
        return

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if click.get_current_context().invoked_subcommand is not None:
            return callback(*args, **kwargs)
        for key, param, flag in (("netns", "netns", "-n"), ("json", "as_json", "-j/--pretty")):
            if global_value(key) and param not in params:
                raise click.UsageError(f"{flag} before the noun does not apply to 'vnetctl {path}'")
        return callback(*args, **kwargs)

    guarded._vnetctl_guarded = True  # type: ignore[attr-defined]
    functools.update_wrapper(guarded, callback)
    cmd.callback = guarded
