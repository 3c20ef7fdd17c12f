"""bridge: a software switch; its ports are other devices (brctl addbr)."""

from . import Kind, Option, register

KIND = register(Kind(
    "bridge", module="bridge", section="bridges",
    options=(Option("stp", "br_stp_state", "stp_state", type="bool", default=False, implicit=False,
                    help="Enable the spanning tree protocol."),),
    info_data=(
        "br_forward_delay:u32 br_hello_time:u32 br_max_age:u32 br_ageing_time:u32 br_stp_state:u32 br_priority:u16 "
        "br_vlan_filtering:u8 br_vlan_protocol:be16 br_group_fwd_mask:u16 br_root_id:brid br_bridge_id:brid "
        "br_root_port:u16 br_root_path_cost:u32 br_topology_change:u8 br_topology_change_detected:u8 "
        "br_hello_timer:u64 br_tcn_timer:u64 br_topology_change_timer:u64 br_gc_timer:u64 br_group_addr:mac - "
        "br_mcast_router:u8 br_mcast_snooping:u8 br_mcast_query_use_ifaddr:u8 br_mcast_querier:u8 "
        "br_mcast_hash_elasticity:u32 br_mcast_hash_max:u32 br_mcast_last_member_cnt:u32 br_mcast_startup_query_cnt:u32 "
        "br_mcast_last_member_intvl:u64 br_mcast_membership_intvl:u64 br_mcast_querier_intvl:u64 br_mcast_query_intvl:u64 "
        "br_mcast_query_response_intvl:u64 br_mcast_startup_query_intvl:u64 br_nf_call_iptables:u8 "
        "br_nf_call_ip6tables:u8 br_nf_call_arptables:u8 br_vlan_default_pvid:u16 - br_vlan_stats_enabled:u8 "
        "br_mcast_stats_enabled:u8 br_mcast_igmp_version:u8 br_mcast_mld_version:u8 br_vlan_stats_per_port:u8 - - "
        "br_fdb_n_learned:u32 br_fdb_max_learned:u32"),
    port_data=(
        "brport_state:u8 brport_priority:u16 brport_cost:u32 brport_mode:u8 brport_guard:u8 brport_protect:u8 "
        "brport_fast_leave:u8 brport_learning:u8 brport_unicast_flood:u8 brport_proxyarp:u8 - brport_proxyarp_wifi:u8 "
        "brport_root_id:brid brport_bridge_id:brid brport_designated_port:u16 brport_designated_cost:u16 brport_id:u16 "
        "brport_no:u16 - - - - - - brport_multicast_router:u8 - brport_mcast_flood:u8 brport_mcast_to_ucast:u8 "
        "brport_vlan_tunnel:u8 brport_bcast_flood:u8 brport_group_fwd_mask:u16 brport_neigh_suppress:u8 brport_isolated:u8 "
        "- - - - - brport_locked:u8"),
))
