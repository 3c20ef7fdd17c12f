"""What a command line says about a process: QEMU guests, conmon's container, VPN daemons.

Pure parsing of /proc/PID/cmdline argv; no file is read here.
"""

from __future__ import annotations

import os

from ..model import Owner

VPNS = {"openvpn", "wireguard-go", "boringtun", "boringtun-cli", "tinc", "tincd", "zerotier-one", "vpnc",
        "openconnect", "slirp4netns", "pasta", "passt"}


def option(argv: list[str] | tuple[str, ...], *names: str) -> str | None:
    """The value of the first of `names` in argv (`--opt VALUE` or `--opt=VALUE`)."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return None


def qemu_name(argv: list[str] | tuple[str, ...]) -> str | None:
    """The guest name of a QEMU command line (`-name guest=NAME,...` or `-name NAME,...`)."""
    value = option(argv, "-name", "--name")
    if value is None:
        return None
    for part in value.split(","):
        if part.startswith("guest="):
            return part[6:]
    first = value.split(",")[0]
    return first if "=" not in first else None


def program(argv: list[str] | tuple[str, ...]) -> str:
    """The program's base name ('' for an empty argv)."""
    return os.path.basename(argv[0]) if argv else ""


def owner(argv: list[str] | tuple[str, ...]) -> Owner | None:
    """The owner a command line alone reveals: a QEMU guest or a VPN-style daemon, else None."""
    prog = program(argv)
    if prog.startswith("qemu-system-") or prog in ("qemu-kvm", "kvm"):
        return Owner("vm", "qemu", None, qemu_name(argv))
    if prog in VPNS:
        what = option(argv, "--dev", "dev", "--config", "--netns-type", "--name") or next(
            (a for a in argv[1:] if not a.startswith("-")), None)
        return Owner("service", None, None, f"{prog} {what}" if what else prog)
    return None


def conmon(argv: list[str] | tuple[str, ...]) -> tuple[str | None, str | None, str | None] | None:
    """conmon's (container id, container name, bundle) from its command line, or None if argv is not conmon."""
    if program(argv) != "conmon":
        return None
    return option(argv, "-c", "--cid"), option(argv, "-n", "--name"), option(argv, "-b", "--bundle")
