"""The programs labs and checks run: the Debian package that provides each and what it is needed for."""

from __future__ import annotations

# program -> (Debian package, what needs it)
TOOLS: dict[str, tuple[str, str]] = {
    "ip": ("iproute2", "lab plans run with sh, lab exec, every --dry-run line"),
    "bridge": ("iproute2", "running the bridge commands --dry-run prints"),
    "ethtool": ("ethtool", "running the ethtool lines lab driver and peer checks print"),
    "ping": ("iputils-ping", "lab ping checks"),
    "tcpdump": ("tcpdump", "lab capture checks"),
    "dnsmasq": ("dnsmasq", "DHCP labs (openstack-dhcp)"),
    "dhclient": ("isc-dhcp-client", "lab dhcp checks"),
    "iperf3": ("iperf3", "measuring lab throughput (rate limits)"),
    "iptables": ("iptables", "doctor's FORWARD-policy check and trace's firewall verdicts"),
}


def package_of(program: str) -> str:
    """The Debian package that provides program (its own name when unknown)."""
    return TOOLS.get(program, (program, ""))[0]
