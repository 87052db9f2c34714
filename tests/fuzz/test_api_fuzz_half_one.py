"""The API fuzzed as every role: half one of the operations (see fuzzing.py)."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import SETTINGS, half, send_as_callers
from tests.fuzz.fuzzing import schema as whole

schema = half(0)


@pytest.mark.django_db
@schema.parametrize()
@SETTINGS
def test_api_answers_every_role_within_its_schema(case, tokens, first_case):
    send_as_callers(case, tokens, first_case)


def test_fuzzed_document_is_the_served_one(db, anon):
    served = anon.get("/api/v1/openapi.json").json()
    assert served["paths"].keys() == whole.raw_schema["paths"].keys()
    assert len(served["paths"]) > 100
