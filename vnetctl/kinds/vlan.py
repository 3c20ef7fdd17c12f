"""vlan: 802.1Q VLAN sub-interfaces of a parent device (needs the 8021q module)."""

from . import Kind, Option, register

KIND = register(Kind(
    "vlan", module="8021q", section="vlans", cli=True,
    help="802.1Q VLAN sub-interfaces (needs the 8021q module).",
    options=(Option("id", "vlan_id", "id", range=(1, 4094), required=True, help="VLAN id."),),
    lower_attr="link", lower_word="link", lower_flag="link", lower_required=True, lower_help="Parent device.",
    probe={"vlan_id": 2},
    info_data="vlan_id:u16 - - - vlan_protocol:be16",
))
