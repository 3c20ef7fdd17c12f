"""`link show -d/-s`: a device's kind details, bridge port attributes, qdisc and counters, as JSON and as ip-like text."""

from __future__ import annotations

from typing import Any

from .. import kinds
from ..model import Link, flags_state
from ..tcunits import rate_word

__all__ = ["flags_state", "port_json", "details_json", "detail_lines", "qdisc_words", "lower_index"]

PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
# bridge port attribute (brport_*) -> the key `bridge -j link` prints
PORT_KEYS = {"brport_state": "state", "brport_priority": "priority", "brport_cost": "cost", "brport_learning": "learning",
             "brport_unicast_flood": "flood", "brport_mcast_flood": "mcast_flood", "brport_bcast_flood": "bcast_flood",
             "brport_isolated": "isolated", "brport_mode": "hairpin", "brport_neigh_suppress": "neigh_suppress"}
PORT_BOOLS = {"learning", "flood", "mcast_flood", "bcast_flood", "isolated", "hairpin", "neigh_suppress"}


def port_json(lk: Link) -> dict[str, Any] | None:
    """A bridge port's attributes under `bridge -j link`'s names (None: not a bridge port)."""
    if not lk.port:
        return None
    found = dict(lk.port)
    out: dict[str, Any] = {}
    for attr, key in PORT_KEYS.items():
        value = found.get(attr)
        if key == "state" and isinstance(value, int):
            value = PORT_STATES.get(value, str(value))
        elif key in PORT_BOOLS and value is not None:
            value = bool(value)
        out[key] = value
    return out


def lower_index(lk: Link) -> int | None:
    """The ifindex of a device's lower device (a vxlan's dev, a vlan's or macvlan's link), when its kind has one."""
    declared = kinds.get(lk.kind) if lk.kind else None
    if declared is None or declared.lower_attr is None:
        return None
    found = lk.link if declared.lower_attr == "link" else lk.detail(declared.lower_attr)
    return found if isinstance(found, int) and found else None


def details_json(lk: Link, names: dict[int, str], qdisc: dict[str, Any] | None) -> dict[str, Any]:
    """`link show -d`'s "details" of one device."""
    declared = kinds.get(lk.kind) if lk.kind else None
    lower = lower_index(lk)
    return {"alias": lk.alias, "txqueuelen": lk.txqlen, "addrgenmode": lk.addrgenmode, "lower": names.get(lower) if lower else None,
            "options": declared.read(dict(lk.details)) if declared is not None and declared.options else {},
            "info": {k: v for k, v in lk.details}, "port": port_json(lk), "qdisc": qdisc}


def _onoff(value: Any) -> str:
    return "on" if value else "off"


def detail_lines(row: dict[str, Any]) -> list[str]:
    """The indented lines under a device in `link show -d/-s` text, in ip's words."""
    out = []
    d = row.get("details")
    if d is not None:
        extra = ([f"alias {d['alias']!r}"] if d["alias"] else []) + [f"{key} {d[key]}" for key in ("txqueuelen", "addrgenmode")
                                                                      if d[key] is not None]
        if extra:
            out.append("  ".join(extra))
        declared = kinds.get(row["kind"]) if row["kind"] else None
        if declared is not None and declared.options:
            words = [w for o in declared.options if d["options"].get(o.name) is not None
                     for w in o.ip_words(d["options"][o.name])]
            out.append(" ".join([row["kind"], *words, *([declared.lower_word or "dev", d["lower"]] if d["lower"] else [])]))
        if d["port"] is not None:
            p = d["port"]
            out.append(f"bridge_slave state {p['state']} priority {p['priority']} cost {p['cost']} "
                       + " ".join(f"{k} {_onoff(p[k])}" for k in ("learning", "flood", "isolated", "hairpin")))
        if d["qdisc"] is not None:
            out.append(qdisc_words(d["qdisc"]))
    s = row.get("stats")
    if s is not None:
        for way in ("rx", "tx"):
            out.append(f"{way.upper()}: bytes {s[way + '_bytes']} packets {s[way + '_packets']} errors {s[way + '_errors']} "
                       f"dropped {s[way + '_dropped']}")
    return ["    " + line for line in out]


def qdisc_words(q: dict[str, Any]) -> str:
    """A root qdisc as tc says it: `qdisc tbf rate 10Mbit burst 32Kb`."""
    words = ["qdisc", q["kind"]]
    if q.get("rate") is not None:
        words += ["rate", rate_word(q["rate"])]
    if q.get("burst") is not None:
        words += ["burst", f"{q['burst']}b"]
    return " ".join(words)
