"""vnetctl trace: where a packet dies across namespaces, bridges, veths and tunnels, and why."""

from __future__ import annotations

import click

from .common import json_option, netns_option


@click.command("trace")
@netns_option
@click.argument("dst")
@click.option("--proto", default="icmp", show_default=True, metavar="icmp|udp:PORT|tcp:PORT", help="What to send.")
@click.option("--size", type=int, default=84, show_default=True, help="Size of the IP packet in bytes (ping's 84).")
@click.option("--df", is_flag=True, help="Set Don't Fragment (find the MTU that fits).")
@click.option("--count", type=int, default=1, show_default=True, help="Probes to send.")
@click.option("--timeout", type=float, default=2.0, show_default=True, help="Seconds to wait for the answer.")
@json_option
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text", show_default=True,
              help="Draw the path (the failing hop marked).")
def trace(netns: str | None, dst: str, proto: str, size: int, df: bool, count: int, timeout: float, as_json: bool,
          fmt: str) -> int:
    """Trace a real probe from -n to DST hop by hop, and say where it vanished.

    DST is an address, or NS[:DEV] meaning that device's address.

    The path is predicted from kernel state (routes, neighbours, FDB, veth peers, VXLAN,
    tun/tap holders) and the probe is captured on every device of it at once. Exit 0
    when the probe was answered, 1 when not (with the verdict: where and why).
    """
    from .. import trace as tracer
    from ..render import trace as render

    result = tracer.run(netns, dst, proto=proto, size=size, df=df, count=count, timeout=timeout)
    if as_json:
        from ..render.output import emit_json

        emit_json(result.as_json())
    elif fmt == "mermaid":
        click.echo(render.mermaid(result), nl=False)
    elif fmt == "dot":
        click.echo(render.dot(result), nl=False)
    else:
        render.text(result)
    return 0 if result.replied else 1


COMMANDS = [trace]
