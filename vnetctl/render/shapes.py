"""The JSON shapes the CLI builds itself (the others come from the library's dicts and to_json()).

Every shape, whichever module builds it, is documented in docs/json.md, and
tests/test_json_shapes.py checks each command's real output against that page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ownership import owner_of
from ..steps import step_record
from .links import flags_state

if TYPE_CHECKING:
    from ..lab import Lab
    from ..lab.teardown import Removed
    from ..model import Link
    from ..steps import Step


def link_json(lk: Link, masters: dict[int, str]) -> dict[str, Any]:
    """One device in `link show`."""
    return {"ifindex": lk.index, "name": lk.name, "kind": lk.kind, "state": lk.state, "up": lk.up, "mtu": lk.mtu,
            "mac": lk.mac, "master": masters.get(lk.master) if lk.master else None, "altnames": list(lk.altnames),
            "owner": owner_of(lk.altnames), "carrier": lk.carrier, "link_state": flags_state(lk.up, lk.carrier, lk.state)}


def step_json(step: Step) -> dict[str, Any]:
    """One Step: its type, the equivalent command, and its arguments."""
    return step_record(step)


def plan_json(lab: Lab) -> dict[str, Any]:
    """`lab plan --json`: the Steps `lab up` would run, and the checks as commands."""
    from ..lab.checks import command_of
    return {"lab": lab.name, "description": lab.spec.description, "steps": [step_json(s) for s in lab.plan()],
            "checks": [{"name": c.name, "kind": c.kind, "command": command_of(c)} for c in lab.spec.checks]}


def up_json(lab: Lab, result: str) -> dict[str, Any]:
    """`lab up --json`: what was made ("unchanged": nothing, the identical lab was already up)."""
    return {"lab": lab.name, "result": result, "made": [step_json(s) for s in lab.plan()] if result == "up" else []}


def down_json(name: str, removed: list[Removed]) -> dict[str, Any]:
    """`lab down --json`: what was removed, one record per Step undone (nothing when the lab was not up)."""
    return {"lab": name, "result": "down" if removed else "not-up", "removed": [r.to_json() for r in removed]}
