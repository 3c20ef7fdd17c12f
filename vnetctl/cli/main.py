"""The `vnetctl` entry point: the group of nouns and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import os
import signal
import sys

import click

from ..errors import EXIT_CODES, VnetError
from ..render.output import set_pretty
from ..render.safe import safe
from .common import refuse_unused_globals
from .complete import attach, netns_names
from .groups import adopt, resolve

NOUNS = ["netns", "veth", "bridge", "tuntap", "link", "addr", "route", "kinds", "doctor", "inspect", "monitor", "lab", "cleanup",
         "trace"]

EPILOG = ("Verbs have the synonyms of ip (show/list/ls, del/delete) and any unique prefix works: "
          "'vnetctl l s' is 'vnetctl link show'.\n\n\b\nExit codes:\n"
          + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()))


class NounGroup(click.Group):
    """Imports a noun's module only when needed, so one command does not pay for all the others."""

    _loaded: set[str] = set()

    def _load(self, noun: str) -> None:
        if noun not in self._loaded:
            self._loaded.add(noun)
            for cmd in importlib.import_module(f"vnetctl.cli.{noun}").COMMANDS:
                refuse_unused_globals(cmd, cmd.name or noun)
                adopt(cmd)
                attach(cmd, [cmd.name or noun])
                self.add_command(cmd)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in NOUNS:
            self._load(cmd_name)
        if cmd_name not in self.commands:
            for noun in NOUNS:
                self._load(noun)
        found = resolve(cmd_name, list(self.commands))
        return self.commands.get(found) if found else None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        for noun in NOUNS:
            self._load(noun)
        return sorted(self.commands)


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value:
        ctx.meta[f"vnetctl.{param.name}"] = value
        if param.name == "pretty":
            ctx.meta["vnetctl.json"] = True
            set_pretty(True)


@click.group(cls=NounGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EPILOG)
@click.option("-n", "--netns", metavar="NS", expose_value=False, callback=_remember, shell_complete=netns_names,
              help="Run the command inside namespace NS (like ip -n); the same as the command's own -n.")
@click.option("-j", "--json", is_flag=True, expose_value=False, callback=_remember,
              help="JSON output (like ip -j); the same as the command's own --json.")
@click.option("--pretty", is_flag=True, expose_value=False, callback=_remember, help="Indented JSON (implies -j).")
@click.version_option(package_name="vnetctl")
def cli() -> None:
    """Operate, set up and inspect Linux virtual network devices.

    tun/tap, veth pairs, bridges, network namespaces and VXLAN, through netlink;
    every change can be printed as the equivalent ip/bridge command with --dry-run.
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected errors print one line on stderr and exit with their code."""
    try:
        rv = cli.main(args=argv, prog_name="vnetctl", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except VnetError as e:
        if os.environ.get("VNETCTL_DEBUG"):
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {safe(e.line())}", err=True)
        code = e.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except PermissionError as e:  # a file only root may read: vnetctl's state, another user's /proc entries
        click.echo(f"Error: cannot read {e.filename or 'a file'}: permission denied — run as root", err=True)
        code = 77
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as e:  # an unexpected failure is a bug: say so in one line
        if os.environ.get("VNETCTL_DEBUG"):
            raise
        click.echo(f"Error: internal error: {type(e).__name__}: {e} — set VNETCTL_DEBUG=1 for a traceback and report it",
                   err=True)
        code = 1
    # Done (or undone): a late Ctrl-C must not turn interpreter shutdown into a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    main()
