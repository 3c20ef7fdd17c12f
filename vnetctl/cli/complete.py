"""Shell completion beyond commands and options: namespace names, devices (in the namespace of -n), labs.

Enabled by the shell's hook (README "Shell completion"); click calls these with what the
user typed so far. They never fail loudly: what cannot be listed is simply not offered.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import CompletionItem

NETNS_OPTIONS = {"netns", "peer_netns", "to_netns"}
DEVICE_ARGUMENTS = {"dev", "bridge_name"}
NEW_NAME_VERBS = {"add", "guest", "read", "tunnel"}  # NAME there is a name to create (read/guest/tunnel may create)


def netns_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Named namespaces whose name starts with what was typed."""
    from ..backend import netns as nsb
    try:
        names = sorted(os.listdir(nsb.run_dir()))
    except OSError:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def devices(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Devices in the namespace the command line names with -n (or here)."""
    netns = ctx.params.get("netns") or ctx.find_root().meta.get("vnetctl.netns")
    try:
        from .. import api
        names = [lk.name for lk in api.links(netns)]
    except Exception:  # an unreadable namespace offers nothing rather than an error in the shell
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def labs_and_files(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Labs with state on this host, and lab files."""
    try:
        from ..lab import journal
        names = [n for n in journal.names() if n.startswith(incomplete)]
    except Exception:
        names = []
    return [CompletionItem(n) for n in names] + [CompletionItem(incomplete, type="file")]


def attach(cmd: click.Command, path: list[str]) -> None:
    """Give cmd's parameters (and its subcommands') the completions their meaning calls for."""
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            attach(sub, path + [name])
    verb = path[-1] if len(path) > 1 else ""
    for p in cmd.params:
        found: Any = None
        if isinstance(p, click.Option) and p.name in NETNS_OPTIONS:
            found = netns_names
        elif isinstance(p, click.Argument):
            if path[0] == "netns" and p.name == "name" and verb != "add":
                found = netns_names
            elif p.name == "target" and path[0] == "lab":
                found = labs_and_files
            elif p.name in DEVICE_ARGUMENTS or (p.name == "name" and verb not in NEW_NAME_VERBS and path[0] != "lab"):
                found = devices
        if found is not None and p._custom_shell_complete is None:
            p._custom_shell_complete = found
