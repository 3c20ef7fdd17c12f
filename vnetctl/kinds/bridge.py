"""bridge: a software switch; its ports are other devices (brctl addbr)."""

from . import Kind, Option, register

KIND = register(Kind(
    "bridge", module="bridge", section="bridges",
    options=(Option("stp", "br_stp_state", "stp_state", type="bool", default=False, implicit=False,
                    help="Enable the spanning tree protocol."),),
))
