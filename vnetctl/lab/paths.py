"""Where a lab's state lives: its directory under the state directory and its runtime files."""

from __future__ import annotations

import os

from .. import state


def labs_dir() -> str:
    """The directory holding one subdirectory per lab that is (or was partly) up."""
    return os.path.join(state.state_dir(), "labs")


def lab_dir(name: str) -> str:
    """The state directory of lab `name` (not created here)."""
    return os.path.join(labs_dir(), name)


def run_dir(name: str) -> str:
    """The private runtime directory of lab `name`: pid, log and lease files of its processes."""
    return os.path.join(lab_dir(name), "run")
