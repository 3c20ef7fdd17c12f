"""gretap: GRE tunnels carrying Ethernet (needs the ip_gre module)."""

from . import Kind, Option, register, same_family

# IFLA_GRE_*: gretap and gre share them
GRE_DATA = ("gre_link:u32 gre_iflags:be16 gre_oflags:be16 gre_ikey:be32 gre_okey:be32 gre_local:ip4 gre_remote:ip4 "
            "gre_ttl:u8 gre_tos:u8 gre_pmtudisc:u8 gre_encap_limit:u8 gre_flowinfo:be32 gre_flags:u32 gre_encap_type:u16 "
            "gre_encap_flags:u16 gre_encap_sport:be16 gre_encap_dport:be16 gre_collect_metadata:flag gre_ignore_df:u8 "
            "gre_fwmark:u32")

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
    info_data=GRE_DATA,
))
