"""macvlan: extra MAC addresses (devices of their own) on one parent device."""

from . import Kind, Option, prefixed, register

MODES = ("bridge", "private", "vepa", "passthru", "source")
# IFLA_MACVLAN_*, which macvtap shares (as macvtap_mode, ...)
DATA = "mode:macvlan_mode flags:macvlan_flags macaddr_mode:u32 - - macaddr_count:u32 bc_queue_len:u32 bc_queue_len_used:u32"


def macvlan_like(name: str, help: str) -> Kind:
    """A macvlan or macvtap: a mode option and a required parent device; details named after the kind."""
    return Kind(
        name, module=name, section=f"{name}s", cli=True, help=help,
        options=(Option("mode", f"{name}_mode", "mode", type="choice", choices=MODES, default="bridge",
                        help="How devices on the same parent reach each other."),),
        lower_attr="link", lower_word="link", lower_flag="link", lower_required=True, lower_help="Parent device.",
        info_data=prefixed(f"{name}_", DATA),
    )


KIND = register(macvlan_like("macvlan", "macvlan: extra MAC addresses on one parent device."))
