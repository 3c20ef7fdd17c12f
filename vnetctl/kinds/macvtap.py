"""macvtap: a macvlan whose frames a program reads and writes through /dev/tapN (a VM's NIC)."""

from . import register
from .macvlan import macvlan_like

KIND = register(macvlan_like("macvtap", "macvtap: a macvlan a program (a VM) reads and writes through /dev/tapN."))
