"""The clinic events channel runs the same authorization as pages and the API."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from shifa.asgi import router
from shifa.tenancy.consumers import clinic_group

pytestmark = pytest.mark.heavy(60)


async def _connect(user, clinic, *, bearer: str | None = None, mfa: bool = True):
    headers = [(b"origin", b"http://127.0.0.1")]
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    communicator = WebsocketCommunicator(router, f"ws/clinics/{clinic.external_id}/events", headers=headers)
    if user is not None:
        communicator.scope["user"] = user
        communicator.scope["shifa_mfa"] = mfa  # as a session that passed the second factor
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
def test_staff_receive_their_clinics_events(cast):
    async def scenario():
        communicator, connected, code = await _connect(cast.staff_a["secretary"], cast.clinic_a)
        assert connected, code
        hello = await communicator.receive_json_from()
        assert hello == {"type": "connected", "data": {"clinic_id": str(cast.clinic_a.external_id)}}
        await get_channel_layer().group_send(
            clinic_group(cast.clinic_a.external_id),
            {"type": "clinic.event", "event": "appointment.booked", "data": {"x": 1}},
        )
        assert await communicator.receive_json_from() == {"type": "appointment.booked", "data": {"x": 1}}
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["type"] == "pong"
        await communicator.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_other_clinic_and_anonymous_are_refused(cast):
    async def scenario():
        _, connected, code = await _connect(cast.staff_a["doctor"], cast.clinic_b)
        assert not connected and code == 4404
        _, connected, code = await _connect(None, cast.clinic_a)
        assert not connected and code == 4401

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_native_apps_connect_with_a_bearer_token(cast):
    from tests.conftest import ApiClient

    token = ApiClient(cast.staff_a["nurse"]).token()

    async def scenario():
        communicator, connected, code = await _connect(None, cast.clinic_a, bearer=token)
        assert connected, code
        await communicator.disconnect()
        _, connected, code = await _connect(None, cast.clinic_a, bearer="shf_forged")
        assert not connected and code == 4401
        _, connected, code = await _connect(None, cast.clinic_b, bearer=token)
        assert not connected and code == 4404

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_websocket_permission_matrix(cast):
    """The clinic events channel, for every role: the same answers as the permission matrix of pages and API."""
    from shifa.access import catalog

    expected = {
        role: (
            "accepted"
            if role in catalog.STAFF_ROLES and catalog.ROLE_PERMISSIONS[role].get("tenancy.view_clinic")
            else "hidden"
        )
        for role in catalog.ALL_ROLES
    }

    async def scenario():
        outcome = {}
        for role in catalog.ALL_ROLES:
            communicator, connected, code = await _connect(cast.user_for(role), cast.clinic_a)
            outcome[role] = "accepted" if connected else {4404: "hidden", 4403: "forbidden"}.get(code, code)
            if connected:
                await communicator.disconnect()
        return outcome

    assert asyncio.run(scenario()) == expected


@pytest.mark.django_db(transaction=True)
def test_staff_without_the_second_factor_cannot_listen(cast):
    async def scenario():
        _communicator, connected, code = await _connect(cast.staff_a["secretary"], cast.clinic_a, mfa=False)
        assert not connected and code == 4403

    asyncio.run(scenario())
