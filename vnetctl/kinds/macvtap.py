"""macvtap: a macvlan whose frames a program reads and writes through /dev/tapN (a VM's NIC)."""

from . import Kind, Option, register
from .macvlan import MODES

KIND = register(Kind(
    "macvtap", module="macvtap", section="macvtaps", cli=True,
    help="macvtap: a macvlan a program (a VM) reads and writes through /dev/tapN.",
    options=(Option("mode", "macvtap_mode", "mode", type="choice", choices=MODES, default="bridge",
                    help="How devices on the same parent reach each other."),),
    lower_attr="link", lower_word="link", lower_flag="link", lower_required=True, lower_help="Parent device.",
))
