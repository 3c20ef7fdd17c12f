"""gretap: GRE tunnels carrying Ethernet (needs the ip_gre module)."""

from . import Kind, Option, register, same_family

KIND = register(Kind(
    "gretap", module="ip_gre", section="gretaps", cli=True,
    help="GRE tunnels carrying Ethernet (needs the ip_gre module).",
    options=(
        Option("remote", "gre_remote", "remote", type="ipv4", required=True, metavar="IP", help="Remote endpoint."),
        Option("local", "gre_local", "local", type="ipv4", metavar="IP", help="Local endpoint."),
    ),
    lower_attr="gre_link", lower_word="dev", lower_flag="dev", lower_help="Underlay device.",
    probe={"gre_remote": "192.0.2.1"},
    rules=(same_family("remote", "local"),),
))
