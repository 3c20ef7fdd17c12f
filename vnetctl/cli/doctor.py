"""vnetctl doctor: what this kernel and this process can do."""

from __future__ import annotations

import click

from .. import doctor as doctor_api
from ..render.output import Col, emit_json, table
from .common import json_option


@click.command("doctor")
@json_option
def doctor(as_json: bool) -> None:
    """What this host supports: device kinds, /dev/net/tun, tools, privileges.

    Kernel support of tun, veth, bridge, vxlan, macvlan, vlan, gretap..., whether /dev/net/tun
    exists, the programs labs use and the capabilities this process has.
    """
    checks = doctor_api.run_checks()
    if as_json:
        emit_json(checks)
        return
    table(["CHECK", "STATUS", Col("DETAIL", cut=True)], [[c["check"], "ok" if c["ok"] else "missing", c["detail"]] for c in checks])


COMMANDS = [doctor]
