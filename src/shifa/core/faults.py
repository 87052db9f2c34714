"""Named fault points for crash tests: ``point("x")`` kills the process on the spot when ``SHIFA_FAULTS`` lists
``x``. Unset in every real deployment, where each point costs one dictionary lookup."""

from __future__ import annotations

import os


def point(name: str) -> None:
    faults = os.environ.get("SHIFA_FAULTS")
    if faults and name in faults.split(","):
        os._exit(70)  # as abrupt as a power cut: no cleanup, no commit
