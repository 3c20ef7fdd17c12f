"""`python -m vnetctl`."""

from .cli.main import main

main()
