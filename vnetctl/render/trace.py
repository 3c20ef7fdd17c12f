"""A trace for people: a hop table and a verdict line, or the path drawn as Mermaid or DOT with the failing hop marked."""

from __future__ import annotations

import sys

from ..trace.model import Hop, TraceResult
from .output import is_tty, stdout_console, table


def _seen(h: Hop) -> str:
    return "yes" if h.seen else "NO"


def text(r: TraceResult) -> None:
    """Header, hop table (rich on a terminal, plain when piped), verdict."""
    head = (f"trace {r.src['netns']} {r.src['address']} -> {r.dst['address']} {r.proto}: "
            f"{'reached' if r.reached else 'not reached'}, {'replied' if r.replied else 'no reply'} ({r.answer})")
    sys.stdout.write(head + "\n")
    sys.stdout.flush()
    rows = [(i + 1, h.leg, h.netns, h.device, h.kind, h.direction, _seen(h), h.ms, h.note) for i, h in enumerate(r.hops)]
    table(["#", "leg", "netns", "device", "kind", "dir", "seen", "ms", "why this way"], rows)
    v = r.verdict
    if v is None:
        line = "verdict: answered"
    else:
        line = f"verdict: {v.reason} at {v.device} in {v.netns}: {v.detail}"
        line += f"\nkernel drop reason: {v.kernel_drop_reason or r.skipped.get('kernel_drop_reason') or 'none seen'}"
    for what, why in r.skipped.items():
        if what != "kernel_drop_reason" or v is None:
            line += f"\nnot checked: {what}: {why}"
    if is_tty():
        stdout_console().print(line, style="bold red" if v else "bold green")
    else:
        sys.stdout.write(line + "\n")


def _label(h: Hop) -> str:
    return f"{h.netns}/{h.device} {h.direction}" + ("" if h.seen else " (not seen)")


def _failing(r: TraceResult) -> int | None:
    v = r.verdict
    if v is None:
        return None
    return next((i for i, h in enumerate(r.hops) if (h.netns, h.device) == (v.netns, v.device)),
                next((i for i, h in enumerate(r.hops) if not h.seen), None))


def mermaid(r: TraceResult) -> str:
    """The path as a Mermaid flowchart; the verdict's hop in red, unseen hops dashed."""
    lines = ["flowchart LR"]
    bad = _failing(r)
    for i, h in enumerate(r.hops):
        lines.append(f'  h{i}["{_label(h)}"]')
        if i:
            lines.append(f"  h{i - 1} {'-->' if h.seen else '-.->'} h{i}")
    if r.verdict is not None:
        lines.append(f'  verdict(["{r.verdict.reason}: {r.verdict.detail}"])')
        if bad is not None:
            lines.append(f"  h{bad} --- verdict")
            lines.append(f"  style h{bad} fill:#f88,stroke:#c00")
    return "\n".join(lines) + "\n"


def dot(r: TraceResult) -> str:
    """The path as a Graphviz digraph; the verdict's hop in red, unseen hops dashed."""
    lines = ["digraph trace {", "  rankdir=LR;", "  node [shape=box];"]
    bad = _failing(r)
    for i, h in enumerate(r.hops):
        style = ', color=red, style=filled, fillcolor="#ffcccc"' if i == bad else ("" if h.seen else ", style=dashed")
        lines.append(f'  h{i} [label="{_label(h)}"{style}];')
        if i:
            lines.append(f"  h{i - 1} -> h{i}{'' if h.seen else ' [style=dashed]'};")
    if r.verdict is not None and bad is not None:
        lines.append(f'  verdict [shape=note, color=red, label="{r.verdict.reason}: {r.verdict.detail}"];')
        lines.append(f"  h{bad} -> verdict [color=red];")
    lines.append("}")
    return "\n".join(lines) + "\n"
