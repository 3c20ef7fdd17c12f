"""inspect across hosts as text, DOT and Mermaid: a cluster per host, cross-host links as edges (pure functions)."""

from __future__ import annotations

from typing import Any


def link_text(link: dict[str, Any]) -> str:
    """One cross-host link as a line."""
    a, b = link["a"], link["b"]
    return (f"{a['host']}:{a['netns'] or '(host)'}/{a['dev']} ⇄ {b['host']}:{b['netns'] or '(host)'}/{b['dev']}  "
            f"VXLAN vni {link['vni']}  {a['underlay']} ⇄ {b['underlay']} port {link['port']}")


def tree_lines(data: dict[str, Any]) -> list[str]:
    """Each host's tree under its name, then the links between hosts."""
    out: list[str] = []
    for name, h in data["hosts"].items():
        out.append(f"host {name} ({h['ssh']})")
        out += ["  " + line for line in h["tree"]]
    out.append("cross-host links:" if data["links"] else "cross-host links: none found")
    out += ["  " + link_text(lk) for lk in data["links"]]
    return out


def public(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape: per host the one-host inspect shape plus its VXLAN ends; the links."""
    return {"hosts": {n: {k: v for k, v in h.items() if k != "tree"} for n, h in data["hosts"].items()},
            "links": data["links"]}


def _node(host: str, inode: int, ifindex: int) -> str:
    return "d" + "".join(c if c.isalnum() else "_" for c in host) + f"_{inode}_{ifindex}"


def _graph(data: dict[str, Any]) -> tuple[list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]],
                                          list[tuple[str, str, str]]]:
    """Hosts -> namespaces -> (node, label) devices, and edges (a, b, label): veth pairs, ports, cross-host links."""
    hosts = []
    edges: list[tuple[str, str, str]] = []
    ids: dict[tuple[str, str | None, str], str] = {}
    for name, h in data["hosts"].items():
        spaces = []
        seen: set[frozenset[str]] = set()
        for ns in h["namespaces"]:
            devs = []
            by_name = {d["name"]: d for d in ns["devices"]}
            for d in ns["devices"]:
                me = _node(name, ns["inode"], d["ifindex"])
                ids[(name, ns["name"], d["name"])] = me
                addrs = " ".join(a for a in d["addresses"] if not a.startswith("fe80:"))
                kind = d.get("tun_mode") or d["kind"] or d.get("link_type") or "device"
                devs.append((me, f"{d['name']} #{d['ifindex']}\n{kind}\n{addrs}".strip()))
                peer = d.get("peer")
                if peer and peer.get("netns_inode"):
                    other = _node(name, peer["netns_inode"], peer["ifindex"])
                    if frozenset((me, other)) not in seen:
                        seen.add(frozenset((me, other)))
                        edges.append((me, other, "veth"))
                if d["master"] in by_name:
                    edges.append((me, _node(name, ns["inode"], by_name[d["master"]]["ifindex"]), "port"))
            spaces.append((ns["name"] or ("(host)" if ns["current"] else f"inode {ns['inode']}"), devs))
        hosts.append((f"host {name} ({h['ssh']})", spaces))
    for lk in data["links"]:
        a, b = lk["a"], lk["b"]
        edges.append((ids[(a["host"], a["netns"], a["dev"])], ids[(b["host"], b["netns"], b["dev"])], f"VXLAN vni {lk['vni']}"))
    return hosts, edges


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(data: dict[str, Any]) -> str:
    """Graphviz DOT: a cluster per host, in it a cluster per namespace; cross-host links join the hosts."""
    hosts, edges = _graph(data)
    lines = ["graph vnetctl {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];', "  compound=true;"]
    for i, (label, spaces) in enumerate(hosts):
        lines += [f"  subgraph cluster_h{i} {{", f"    label={_dq(label)};", "    style=bold;"]
        for j, (ns, devs) in enumerate(spaces):
            lines += [f"    subgraph cluster_h{i}_{j} {{", f"      label={_dq(ns)};"]
            lines += [f"      {node} [label={_dq(text)}];" for node, text in devs]
            lines.append("    }")
        lines.append("  }")
    for a, b, label in edges:
        style = ", style=bold, color=blue" if label.startswith("VXLAN") else ", style=dashed" if label == "port" else ""
        lines.append(f"  {a} -- {b} [label={_dq(label)}{style}];")
    return "\n".join(lines + ["}"]) + "\n"


def _mq(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def mermaid(data: dict[str, Any]) -> str:
    """Mermaid flowchart: a subgraph per host, in it one per namespace; cross-host links join the hosts."""
    hosts, edges = _graph(data)
    lines = ["flowchart LR"]
    for i, (label, spaces) in enumerate(hosts):
        lines.append(f"  subgraph h{i}[{_mq(label)}]")
        for j, (ns, devs) in enumerate(spaces):
            lines.append(f"    subgraph h{i}ns{j}[{_mq(ns)}]")
            lines += [f"      {node}[{_mq(text)}]" for node, text in devs]
            lines.append("    end")
        lines.append("  end")
    for a, b, label in edges:
        arrow = f"<==>|{label}|" if label.startswith("VXLAN") else "-.-|port|" if label == "port" else "<-->|veth|"
        lines.append(f"  {a} {arrow} {b}")
    return "\n".join(lines) + "\n"
