"""Under the real ASGI stack (the one uvicorn serves), concurrent requests keep their own audit context."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shifa.audit.models import AuditEvent
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_asgi_writes_record_their_own_actor_and_request_id(cast):
    from shifa.asgi import application

    admin = cast.staff_a["clinic_admin"]
    general = cast.general_admin
    calls = [(admin, ApiClient(admin).token(), "secretary"), (general, ApiClient(general).token(), "nurse")]

    async def scenario():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            responses = await asyncio.gather(
                *[
                    client.put(
                        f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/{role}/permissions/tenancy.view_members",
                        json={"granted": role == "nurse"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for _, token, role in calls
                ]
            )
        return responses

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200, 200]
    for (user, _, _), response in zip(calls, responses, strict=True):
        event = AuditEvent.objects.get(
            table_name="access_clinicrolepermission", request_id=response.headers["X-Request-ID"]
        )
        assert event.actor_id == user.pk
        assert event.clinic_id == cast.clinic_a.pk
