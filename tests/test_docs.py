"""The README is the front door: every command is documented, with help, and the exit codes match."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from vnetctl.cli.main import cli
from vnetctl.errors import EXIT_CODES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        out.append((f"{prefix}{name}", cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
    return out


COMMANDS = _commands(cli)


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help(path: str, cmd: click.Command) -> None:
    assert (cmd.help or "").strip(), f"'vnetctl {path}' has no help text"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_is_in_the_readme(path: str) -> None:
    noun, _, verb = path.partition(" ")
    lines = [ln for ln in README.splitlines() if re.match(rf"\s*vnetctl {re.escape(noun)}\b", ln)]
    assert lines, f"the README never shows 'vnetctl {noun}'"
    if verb:
        assert any(re.search(rf"(^|[\s|]){re.escape(verb)}\b", ln.split(noun, 1)[1]) for ln in lines), \
            f"the README's command reference lacks 'vnetctl {path}'"


def test_readme_exit_code_table_matches_the_library() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", README, re.M))
    assert set(EXIT_CODES) <= {int(c) for c in table}
