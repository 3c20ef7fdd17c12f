"""How words on the command line find commands, with the habits of `ip`.

- synonyms: `show`, `list` and `ls` name the same read command; `del` and `delete` too;
- unique prefixes: `vnetctl l s` is `vnetctl link show`. When a prefix fits several words the
  precedence `ip` users expect decides (`l` is link, `a` addr, `r` route, `n` netns, `v` veth;
  read verbs before changes: `s` is show); words that remove everything are never guessed.
"""

from __future__ import annotations

import click

SYNONYMS = {"ls": ("list", "show"), "list": ("list", "show"), "show": ("show", "list"), "lst": ("list", "show"),
            "delete": ("del",), "del": ("del",), "remove": ("del",), "rm": ("del",)}
# First in this list wins when a prefix fits several words.
PRECEDENCE = ["link", "addr", "route", "netns", "veth", "bridge", "tuntap", "inspect", "lab", "doctor",
              "show", "list", "status", "check", "get", "add", "set", "del", "up", "down", "plan", "exec"]
NEVER_ABBREVIATED = {"cleanup"}


def resolve(word: str, names: list[str]) -> str | None:
    """The command a word names among `names`: itself, a synonym, or the preferred word it is a prefix of."""
    if word in names:
        return word
    for target in SYNONYMS.get(word, ()):
        if target in names:
            return target
    fits = [n for n in names if n.startswith(word) and n not in NEVER_ABBREVIATED]
    fits += [t for s, ts in SYNONYMS.items() if s.startswith(word) for t in ts[:1] if t in names and t not in fits]
    if not fits:
        return None
    if len(fits) == 1:
        return fits[0]
    ranked = sorted(fits, key=lambda n: PRECEDENCE.index(n) if n in PRECEDENCE else len(PRECEDENCE))
    return ranked[0] if ranked[0] in PRECEDENCE else None


class VerbGroup(click.Group):
    """A noun's group: verbs found by synonym or unique prefix."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = resolve(cmd_name, list(self.commands))
        return self.commands.get(found) if found else None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest


def adopt(cmd: click.Command) -> None:
    """Give a noun's plain click groups (and their subgroups) the verb rules."""
    if isinstance(cmd, click.Group):
        if type(cmd) is click.Group:
            cmd.__class__ = VerbGroup
        for sub in cmd.commands.values():
            adopt(sub)
