"""The API fuzzed as every role: half two of the operations (see fuzzing.py)."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import SETTINGS, half, send_as_callers

schema = half(1)


@pytest.mark.django_db
@schema.parametrize()
@SETTINGS
def test_api_answers_every_role_within_its_schema(case, tokens, first_case):
    send_as_callers(case, tokens, first_case)
