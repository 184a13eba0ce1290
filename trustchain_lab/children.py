"""Child processes that run this very package (``python -m trustchain_lab.…``)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # the folder holding the package


def child_env() -> dict[str, str]:
    """This process's environment with the package's folder first on ``PYTHONPATH``, so a
    child imports the same ``trustchain_lab`` (a checkout or worktree, not another install)."""
    path = [PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
