"""Device operations as Steps, one module per noun."""

from . import link_underlay  # noqa: F401  (its Step must be known when a journal is read back)
