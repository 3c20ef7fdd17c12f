"""macvlan: extra MAC addresses (devices of their own) on one parent device."""

from . import Kind, Option, register

MODES = ("bridge", "private", "vepa", "passthru", "source")

KIND = register(Kind(
    "macvlan", module="macvlan", section="macvlans", cli=True,
    help="macvlan: extra MAC addresses on one parent device.",
    options=(Option("mode", "macvlan_mode", "mode", type="choice", choices=MODES, default="bridge",
                    help="How devices on the same parent reach each other."),),
    lower_attr="link", lower_word="link", lower_flag="link", lower_required=True, lower_help="Parent device.",
))
