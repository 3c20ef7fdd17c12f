"""A device created from the host namespace straight into another: a VXLAN end of a cross-host link.

A VXLAN device sends through a UDP socket in the namespace it was created from (its link
netns), not the one it sits in. Created from the host namespace with IFLA_NET_NS_FD, the
end sits in its lab namespace while its packets leave through the host's underlay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import AlreadyExists, Unsupported
from ..steps import Receipt, Session, ip
from .link import LinkAdd, exists_error, mark_or_undo, netns_words, ns_fd, unsupported


@dataclass(frozen=True)
class LinkAddUnderlay(LinkAdd):
    """Create a device in `netns`, asked from the host namespace (so its tunnel socket stays there)."""

    def apply(self, s: Session) -> Receipt:
        fd = ns_fd(self.netns)
        try:
            s.nl(None).add_link(self.name, self.kind, self._data(), ns_fd=fd)
        except Unsupported:
            raise unsupported(self.kind) from None
        except AlreadyExists:
            if s.nl(self.netns).link(self.name) is not None:
                raise exists_error(self.name, self.netns) from None
            raise  # the VNI and port are taken by another VXLAN here: the kernel's own words
        finally:
            os.close(fd)
        mark_or_undo(s, self, self.owner, (self.netns, self.name))
        return None

    def command(self) -> str:
        words = ["link", "add", self.name, *netns_words(self.netns), "type", self.kind]
        words += [w for k, v in self.options for w in (k if k != "vni" else "id", str(v))]
        return ip(None, *words) + self._mark_commands()
