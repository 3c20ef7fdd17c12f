"""vnetctl doctor: what this kernel and this process can do."""

from __future__ import annotations

import click

from .. import doctor as doctor_api
from ..render.output import Col, emit_json, table
from .common import json_option


@click.command("doctor")
@json_option
def doctor(as_json: bool) -> None:
    """What this host supports, and the host settings that silently break labs.

    Kernel support of every device kind vnetctl knows, /dev/net/tun, the programs labs and checks
    use, the capabilities this process has; then the traps: br_netfilter handing bridged frames
    to an iptables FORWARD policy of DROP (Docker's), ip_forward off, strict rp_filter.
    A row that is not ok and has a fix is repeated below the table in full, with the fix.
    """
    checks = doctor_api.run_checks()
    if as_json:
        emit_json(checks)
        return
    table(["CHECK", "STATUS", Col("DETAIL", cut=True)], [[c["check"], c["status"], c["detail"]] for c in checks])
    fixes = [c for c in checks if c["status"] != "ok" and c["fix"]]
    if fixes:
        click.echo()
    for c in fixes:
        click.echo(f"{c['check']} ({c['status']}): {c['detail']}\n  fix: {c['fix']}")


COMMANDS = [doctor]
