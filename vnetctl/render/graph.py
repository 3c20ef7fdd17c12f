"""inspect as a picture: Graphviz DOT and Mermaid, namespaces as clusters (pure functions)."""

from __future__ import annotations

from ..model import Device, HostView, Namespace
from .inspect_text import kind_text, labels, owners_text, peer_ns_label


def _node(inode: int | None, ifindex: int) -> str:
    return f"d{inode or 0}_{ifindex}"


def _edges(view: HostView) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, str]]:
    """veth pairs (each once) and bridge ports as node pairs, and stub nodes for peers outside the view."""
    known = labels(view)
    present = {_node(ns.inode, d.ifindex) for ns in view.namespaces for d in ns.devices}
    pairs: dict[frozenset[str], tuple[str, str]] = {}
    ports: list[tuple[str, str]] = []
    stubs: dict[str, str] = {}
    for ns in view.namespaces:
        by_name = {d.name: d for d in ns.devices}
        for d in ns.devices:
            me = _node(ns.inode, d.ifindex)
            if d.peer is not None:
                # A peer in a namespace we could not find is keyed by who reports it, so two such peers never merge.
                other = (_node(d.peer.netns_inode, d.peer.ifindex) if d.peer.netns_inode is not None
                         else f"u{ns.inode}_{d.ifindex}_{d.peer.ifindex}")
                if other not in present:
                    stubs[other] = f"{d.peer.name or '?'} #{d.peer.ifindex}\nin {peer_ns_label(d.peer, known)}"
                pairs.setdefault(frozenset((me, other)), (me, other))
            if d.master and d.master in by_name:
                ports.append((me, _node(ns.inode, by_name[d.master].ifindex)))
    return list(pairs.values()), ports, stubs


def _ns_title(ns: Namespace, known: dict[int, str]) -> str:
    owners = owners_text(ns.owners)
    return known[ns.inode] + f" (inode {ns.inode})" + (f"\n{owners}" if owners else "")


def _dev_label(d: Device) -> str:
    kind = kind_text(d)
    extra = ""
    if d.holders:
        extra = "\n" + " ".join(f"{h.comm}[{h.pid}] fd {h.fd}" for h in d.holders)
    if d.addresses:
        extra += "\n" + " ".join(a for a in d.addresses if not a.startswith("fe80:"))
    return f"{d.name} #{d.ifindex}\n{kind}{extra}".rstrip()


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(view: HostView) -> str:
    """Graphviz DOT: one cluster per namespace, veth pairs and bridge ports as edges."""
    known = labels(view)
    lines = ["graph vnetctl {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];', "  compound=true;"]
    for i, ns in enumerate(view.namespaces):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dq(_ns_title(ns, known))};")
        for d in ns.devices:
            shape = ', shape=ellipse' if d.kind == "bridge" else ""
            lines.append(f"    {_node(ns.inode, d.ifindex)} [label={_dq(_dev_label(d))}{shape}];")
        lines.append("  }")
    pairs, ports, stubs = _edges(view)
    for node, label in stubs.items():
        lines.append(f"  {node} [label={_dq(label)}, style=dashed];")
    for a, b in pairs:
        lines.append(f"  {a} -- {b} [label=\"veth\"];")
    for a, b in ports:
        lines.append(f"  {a} -- {b} [style=dashed, label=\"port\"];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mq(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def mermaid(view: HostView) -> str:
    """Mermaid flowchart: one subgraph per namespace, veth pairs and bridge ports as edges."""
    known = labels(view)
    lines = ["flowchart LR"]
    for i, ns in enumerate(view.namespaces):
        lines.append(f"  subgraph ns{i}[{_mq(_ns_title(ns, known))}]")
        for d in ns.devices:
            node = _node(ns.inode, d.ifindex)
            shape = f"(({_mq(_dev_label(d))}))" if d.kind == "bridge" else f"[{_mq(_dev_label(d))}]"
            lines.append(f"    {node}{shape}")
        lines.append("  end")
    pairs, ports, stubs = _edges(view)
    for node, label in stubs.items():
        lines.append(f"  {node}[{_mq(label)}]")
    for a, b in pairs:
        lines.append(f"  {a} <-->|veth| {b}")
    for a, b in ports:
        lines.append(f"  {a} -.-|port| {b}")
    return "\n".join(lines) + "\n"
