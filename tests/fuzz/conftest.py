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
