"""Device operations as Steps, one module per noun."""

from . import fdb, link_underlay  # noqa: F401  (their Steps must be known when a journal is read back)
