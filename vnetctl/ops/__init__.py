"""Device operations as Steps, one module per noun."""
