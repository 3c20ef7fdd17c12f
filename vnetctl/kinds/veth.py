"""veth: two devices joined back to back, each end possibly in its own namespace."""

from . import Kind, register

KIND = register(Kind("veth", module="veth", section="veths", pair=True))
