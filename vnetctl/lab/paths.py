"""Where a lab's state lives: its directory under the state directory and its runtime files."""

from __future__ import annotations

import os

from .. import state
from ..errors import UsageError
from ..ownership import OWNER_RE


def labs_dir() -> str:
    """The directory holding one subdirectory per lab that is (or was partly) up."""
    return os.path.join(state.state_dir(), "labs")


def valid_name(name: str) -> bool:
    """True if `name` can be a lab's name (and so never a path such as '..' or 'a/b')."""
    return bool(OWNER_RE.match(name))


def lab_dir(name: str) -> str:
    """The state directory of lab `name` (not created here); UsageError for a name that is no lab's."""
    if not valid_name(name):
        raise UsageError(f"invalid lab name {name!r}",
                         "give the lab's name (1-64 of A-Z a-z 0-9 _ . -, see 'vnetctl lab list') or its file")
    return os.path.join(labs_dir(), name)


def run_dir(name: str) -> str:
    """The private runtime directory of lab `name`: pid, log and lease files of its processes."""
    return os.path.join(lab_dir(name), "run")


def plan_dir(name: str) -> str:
    """Where the `lab plan` script of lab `name` records what it made (see lab/plancopy.py)."""
    lab_dir(name)  # the same name check
    return os.path.join(state.state_dir(), "plans", name)


def plan_run_dir(name: str) -> str:
    """The plan script's runtime directory: `{run}` in a plan, its processes' pid and log files."""
    return os.path.join(plan_dir(name), "run")
