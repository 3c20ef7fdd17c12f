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


SYNOPSIS = README.split("## Commands\n\n```\n", 1)[1].split("```", 1)[0]
LEAVES = [(p, c) for p, c in COMMANDS if not isinstance(c, click.Group) or c.invoke_without_command]


def _synopsis_line(path: str) -> str:
    lines, current = [], None
    for ln in SYNOPSIS.splitlines():
        if ln.startswith("vnetctl "):
            current = ln
            lines.append(current)
        elif ln.startswith(" ") and current is not None:
            lines[-1] += " " + ln.strip()
    found = [ln for ln in lines if re.match(rf"vnetctl {re.escape(path)}( |$)", ln)
             and not any(re.match(rf"vnetctl {re.escape(path)} {re.escape(other.split()[-1])}( |$)", ln)
                         for other, _ in LEAVES if other.startswith(path + " "))]
    assert len(found) == 1, f"the README's synopsis has {len(found)} lines for 'vnetctl {path}'"
    return found[0]


@pytest.mark.parametrize("path,cmd", LEAVES, ids=[p for p, _ in LEAVES])
def test_readme_synopsis_matches_help(path: str, cmd: click.Command) -> None:
    documented = set(re.findall(r"(?<![\w-])(--?[a-z0-9][\w-]*)", _synopsis_line(path)))
    options = set()
    for p in cmd.params:
        if not isinstance(p, click.Option) or "--help" in p.opts or "--pretty" in p.opts:
            continue
        names = set(p.opts + p.secondary_opts)
        shown = names & documented
        assert shown, f"'vnetctl {path}' has {'/'.join(sorted(names))}, the README's synopsis does not"
        options |= names
    assert documented - options == set(), f"the README's synopsis of 'vnetctl {path}' names options it lacks"


def test_help_summaries_are_whole_sentences() -> None:
    for path, cmd in COMMANDS:
        first = (cmd.help or "").strip().splitlines()[0]
        assert cmd.get_short_help_str(limit=80).rstrip(".") == first.rstrip("."), f"'vnetctl {path}' summary is cut: {first!r}"
