from __future__ import annotations

import pytest

from shifa.access import catalog
from shifa.accounts.actions import token_pair_issue


@pytest.fixture
def tokens(cast) -> dict:
    """A bearer token (second factor passed) for each role in the cast; anonymous has none."""
    return {
        role: token_pair_issue(user=cast.user_for(role), mfa=True)["access_token"]
        for role in catalog.ALL_ROLES
    }


@pytest.fixture
def first_case() -> list:
    """Whether this operation's first case is still to come (it is sent as every caller)."""
    return [True]


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, schemathesis' per-operation subtests do not run (the item passes having sent nothing),
    so the fuzzing runs in a process of its own: ``make test`` runs tests/fuzz after the parallel suite."""
    if not hasattr(config, "workerinput"):
        return
    skip = pytest.mark.skip(reason="schemathesis runs in one process: `pytest tests/fuzz` (make test does)")
    for item in items:
        if "tests/fuzz/" in item.nodeid and "answers_every_role" in item.nodeid:
            item.add_marker(skip)
