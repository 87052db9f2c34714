"""Video providers: the built-in WebRTC tokens and TURN credentials, LiveKit's Twirp API against a mock transport,
and the Chime SDK through botocore's Stubber."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time

import boto3
import httpx
import jwt
import pytest
from botocore.stub import Stubber

from shifa.telehealth.video import get_provider
from shifa.telehealth.video.base import AttendeeRef, MeetingRef, VideoProviderError
from shifa.telehealth.video.chime import ChimeProvider
from shifa.telehealth.video.livekit import LiveKitProvider
from shifa.telehealth.video.webrtc import TURN_SECONDS, WebRTCProvider, read_token

API_KEY, API_SECRET = "APIkey123", "livekit-secret-0123456789abcdef0123456789"
MEETING = MeetingRef(meeting_id="room-1", external_meeting_id="room-1")
DOCTOR = AttendeeRef(attendee_id="user-7", external_user_id="user-7", name="Dr Salma", can_publish=True)
VIEWER = AttendeeRef(attendee_id="guest-2", external_user_id="guest-2", name="Observer", can_publish=False)


# --- built-in WebRTC -------------------------------------------------------------------------------------------


def test_webrtc_token_round_trip():
    token = WebRTCProvider().join_token(MEETING, DOCTOR, seconds=300)
    assert read_token(token.token) == ("room-1", "user-7")
    assert token.expires_at > dt.datetime.now(dt.UTC)


def test_webrtc_expired_token_is_refused():
    token = WebRTCProvider().join_token(MEETING, DOCTOR, seconds=-60)
    with pytest.raises(VideoProviderError):
        read_token(token.token)


def test_webrtc_tampered_token_is_refused():
    token = WebRTCProvider().join_token(MEETING, DOCTOR, seconds=300).token
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["mtg"] = "another-room"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(VideoProviderError):
        read_token(f"{header}.{forged}.{signature}")
    other_key = jwt.encode({**claims, "mtg": "room-1"}, "not-our-key-0123456789abcdef0123", algorithm="HS256")
    with pytest.raises(VideoProviderError):
        read_token(other_key)


def test_webrtc_turn_credentials(settings):
    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp"]
    settings.TURN_SECRET = "turn-shared-secret"
    servers = WebRTCProvider().join_token(MEETING, DOCTOR, seconds=300).connection["ice_servers"]
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    expiry, attendee = turn["username"].split(":", 1)
    assert attendee == "user-7"
    assert abs(int(expiry) - (time.time() + TURN_SECONDS)) < 5
    digest = hmac.new(b"turn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


def test_webrtc_without_ice_servers(settings):
    settings.STUN_URLS = []
    settings.TURN_URLS = []
    settings.TURN_SECRET = ""
    assert WebRTCProvider().join_token(MEETING, DOCTOR, seconds=300).connection["ice_servers"] == []


def test_webrtc_turn_needs_the_secret(settings):
    settings.STUN_URLS = []
    settings.TURN_URLS = ["turn:turn.example.org:3478"]
    settings.TURN_SECRET = ""
    assert WebRTCProvider().join_token(MEETING, DOCTOR, seconds=300).connection["ice_servers"] == []


# --- LiveKit ---------------------------------------------------------------------------------------------------


@pytest.fixture
def livekit(settings):
    settings.LIVEKIT_URL = "https://video.example.org"
    settings.LIVEKIT_API_KEY = API_KEY
    settings.LIVEKIT_API_SECRET = API_SECRET
    return settings


def _livekit(handler) -> tuple[LiveKitProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return LiveKitProvider(client=httpx.Client(transport=httpx.MockTransport(record))), seen


def _server_claims(request: httpx.Request) -> dict:
    scheme, token = request.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    return jwt.decode(token, API_SECRET, algorithms=["HS256"])


def test_get_provider_names():
    assert isinstance(get_provider("livekit"), LiveKitProvider)
    assert isinstance(get_provider("chime"), ChimeProvider)
    assert isinstance(get_provider("webrtc"), WebRTCProvider)


def test_livekit_create_room(livekit):
    provider, seen = _livekit(
        lambda request: httpx.Response(200, json={"sid": "RM_abc", "name": "room-1", "max_participants": 3})
    )
    meeting = provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    assert meeting.meeting_id == "room-1"
    assert meeting.media_region == ""
    assert meeting.join_info == {"url": "wss://video.example.org", "room": "room-1"}
    (request,) = seen
    assert request.method == "POST"
    assert request.url == "https://video.example.org/twirp/livekit.RoomService/CreateRoom"
    assert json.loads(request.content) == {"name": "room-1", "max_participants": 3, "empty_timeout": 600}
    claims = _server_claims(request)
    assert claims["iss"] == API_KEY
    assert claims["video"]["roomCreate"] is True
    assert claims["nbf"] <= time.time() < claims["exp"]


def test_livekit_room_name_falls_back_to_ours(livekit):
    provider, _ = _livekit(lambda request: httpx.Response(200, json={}))
    assert provider.create_meeting(external_meeting_id="room-9", max_participants=2).meeting_id == "room-9"


def test_livekit_plain_http_url_gives_ws(livekit):
    livekit.LIVEKIT_URL = "http://localhost:7880/"
    provider, seen = _livekit(lambda request: httpx.Response(200, json={"name": "room-1"}))
    meeting = provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    assert meeting.join_info["url"] == "ws://localhost:7880"
    assert str(seen[0].url) == "http://localhost:7880/twirp/livekit.RoomService/CreateRoom"


def test_livekit_delete_room(livekit):
    provider, seen = _livekit(lambda request: httpx.Response(200, json={}))
    provider.end_meeting(MEETING)
    (request,) = seen
    assert request.url.path == "/twirp/livekit.RoomService/DeleteRoom"
    assert json.loads(request.content) == {"room": "room-1"}
    assert _server_claims(request)["video"]["roomCreate"] is True


def test_livekit_delete_missing_room_is_fine(livekit):
    provider, _ = _livekit(
        lambda request: httpx.Response(
            404, json={"code": "not_found", "msg": "requested room does not exist"}
        )
    )
    provider.end_meeting(MEETING)


def test_livekit_delete_other_error_is_raised(livekit):
    provider, _ = _livekit(lambda request: httpx.Response(401, json={"code": "unauthenticated", "msg": "no"}))
    with pytest.raises(VideoProviderError):
        provider.end_meeting(MEETING)


def test_livekit_join_token(livekit):
    provider, seen = _livekit(lambda request: httpx.Response(500))
    token = provider.join_token(MEETING, VIEWER, seconds=300)
    assert seen == []
    assert token.connection == {"url": "wss://video.example.org"}
    claims = jwt.decode(token.token, API_SECRET, algorithms=["HS256"])
    assert claims["iss"] == API_KEY
    assert claims["sub"] == "guest-2"
    assert claims["name"] == "Observer"
    assert claims["video"] == {"roomJoin": True, "room": "room-1", "canPublish": False, "canSubscribe": True}
    assert abs(claims["exp"] - (time.time() + 300)) < 5
    assert claims["exp"] == int(token.expires_at.timestamp())
    assert jwt.decode(
        provider.join_token(MEETING, DOCTOR, seconds=60).token, API_SECRET, algorithms=["HS256"]
    )["video"]["canPublish"]


def test_livekit_attendee_is_ours(livekit):
    provider, seen = _livekit(lambda request: httpx.Response(500))
    attendee = provider.create_attendee(MEETING, VIEWER)
    assert attendee.attendee_id == "guest-2"
    assert attendee.capabilities == {"audio": "SendReceive", "video": "Receive"}
    assert provider.create_attendee(MEETING, DOCTOR).capabilities["video"] == "SendReceive"
    assert seen == []


def test_livekit_server_error(livekit):
    provider, _ = _livekit(lambda request: httpx.Response(500, text="boom"))
    with pytest.raises(VideoProviderError) as caught:
        provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    assert "500" in str(caught.value)
    assert API_SECRET not in str(caught.value)


def test_livekit_unreachable(livekit):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider, _ = _livekit(refuse)
    with pytest.raises(VideoProviderError, match="unreachable"):
        provider.create_meeting(external_meeting_id="room-1", max_participants=3)


def test_livekit_timeout(livekit):
    def slow(request: httpx.Request) -> httpx.Response:
        assert request.extensions["timeout"]["read"] == 10.0
        raise httpx.ReadTimeout("timed out", request=request)

    provider, _ = _livekit(slow)
    with pytest.raises(VideoProviderError):
        provider.end_meeting(MEETING)


@pytest.mark.parametrize("missing", ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"])
def test_livekit_not_configured(livekit, missing):
    setattr(livekit, missing, "")
    provider, seen = _livekit(lambda request: httpx.Response(200, json={}))
    with pytest.raises(VideoProviderError, match="not configured"):
        provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    with pytest.raises(VideoProviderError, match="not configured"):
        provider.join_token(MEETING, DOCTOR, seconds=60)
    assert seen == []


# --- Amazon Chime SDK ------------------------------------------------------------------------------------------

CHIME_MEETING = {
    "MeetingId": "5b2c4b7a-1111-4c1e-9b1a-0123456789ab",
    "ExternalMeetingId": "room-1",
    "MediaRegion": "eu-central-1",
    "MeetingArn": "arn:aws:chime:eu-central-1:123456789012:meeting/5b2c4b7a-1111-4c1e-9b1a-0123456789ab",
    "MediaPlacement": {
        "AudioHostUrl": "abc.k.m1.ec1.app.chime.aws:3478",
        "AudioFallbackUrl": "wss://haxrp.m1.ec1.app.chime.aws:443/calls/abc",
        "SignalingUrl": "wss://signal.m1.ec1.app.chime.aws/control/abc",
        "TurnControlUrl": "https://2713.cell.eu-central-1.meetings.chime.aws/v2/turn_sessions",
        "ScreenDataUrl": "wss://bitpw.m1.ec1.app.chime.aws:443/v2/screen/abc",
        "ScreenViewingUrl": "wss://bitpw.m1.ec1.app.chime.aws:443/ws/connect?passcode=null&viewer_uuid=null",
        "ScreenSharingUrl": "wss://bitpw.m1.ec1.app.chime.aws:443/v2/screen/abc",
        "EventIngestionUrl": "https://data.svc.ec1.ingest.chime.aws/v1/client-events",
    },
}
CHIME_ATTENDEE = {
    "ExternalUserId": "user-7",
    "AttendeeId": "a1b2c3d4-2222-4c1e-9b1a-0123456789ab",
    "JoinToken": "YTFiMmMzZDQtMjIyMi00YzFlLTliMWEtMDEyMzQ1Njc4OWFiOnNlY3JldA",
    "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"},
}


@pytest.fixture
def chime(settings):
    settings.CHIME_REGION = "eu-central-1"
    client = boto3.client(
        "chime-sdk-meetings",
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield ChimeProvider(client=client), stubber
        stubber.assert_no_pending_responses()


def _chime_meeting_ref() -> MeetingRef:
    return MeetingRef(
        meeting_id=CHIME_MEETING["MeetingId"],
        external_meeting_id="room-1",
        media_region="eu-central-1",
        join_info={
            "meeting": {
                "MeetingId": CHIME_MEETING["MeetingId"],
                "ExternalMeetingId": "room-1",
                "MediaRegion": "eu-central-1",
                "MediaPlacement": CHIME_MEETING["MediaPlacement"],
            }
        },
    )


def test_chime_create_meeting(chime):
    provider, stubber = chime
    stubber.add_response(
        "create_meeting",
        {"Meeting": CHIME_MEETING},
        {"ClientRequestToken": "room-1", "MediaRegion": "eu-central-1", "ExternalMeetingId": "room-1"},
    )
    meeting = provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    assert meeting.meeting_id == CHIME_MEETING["MeetingId"]
    assert meeting.media_region == "eu-central-1"
    assert meeting.join_info == _chime_meeting_ref().join_info
    json.dumps(meeting.join_info)


def test_chime_create_attendee(chime):
    provider, stubber = chime
    stubber.add_response(
        "create_attendee",
        {"Attendee": CHIME_ATTENDEE},
        {"MeetingId": CHIME_MEETING["MeetingId"], "ExternalUserId": "user-7"},
    )
    attendee = provider.create_attendee(_chime_meeting_ref(), DOCTOR)
    assert attendee.attendee_id == CHIME_ATTENDEE["AttendeeId"]
    assert attendee.capabilities == CHIME_ATTENDEE["Capabilities"]


def test_chime_attendee_default_capabilities(chime):
    provider, stubber = chime
    without = {k: v for k, v in CHIME_ATTENDEE.items() if k != "Capabilities"}
    stubber.add_response("create_attendee", {"Attendee": without})
    attendee = provider.create_attendee(_chime_meeting_ref(), DOCTOR)
    assert attendee.capabilities == {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"}


def test_chime_join_token(chime):
    provider, stubber = chime
    stubber.add_response(
        "create_attendee",
        {"Attendee": CHIME_ATTENDEE},
        {"MeetingId": CHIME_MEETING["MeetingId"], "ExternalUserId": "user-7"},
    )
    meeting = _chime_meeting_ref()
    token = provider.join_token(meeting, DOCTOR, seconds=300)
    assert token.token == CHIME_ATTENDEE["JoinToken"]
    assert abs((token.expires_at - dt.datetime.now(dt.UTC)).total_seconds() - 300) < 5
    assert token.connection == {
        "attendee_id": CHIME_ATTENDEE["AttendeeId"],
        "meeting": meeting.join_info["meeting"],
    }


def test_chime_join_token_fetches_meeting_when_unknown(chime):
    provider, stubber = chime
    stubber.add_response("create_attendee", {"Attendee": CHIME_ATTENDEE})
    stubber.add_response("get_meeting", {"Meeting": CHIME_MEETING}, {"MeetingId": CHIME_MEETING["MeetingId"]})
    bare = MeetingRef(meeting_id=CHIME_MEETING["MeetingId"], external_meeting_id="room-1")
    token = provider.join_token(bare, DOCTOR, seconds=300)
    assert token.connection["meeting"] == _chime_meeting_ref().join_info["meeting"]


def test_chime_end_meeting(chime):
    provider, stubber = chime
    stubber.add_response("delete_meeting", {}, {"MeetingId": CHIME_MEETING["MeetingId"]})
    provider.end_meeting(_chime_meeting_ref())


def test_chime_end_meeting_already_gone(chime):
    provider, stubber = chime
    stubber.add_client_error("delete_meeting", service_error_code="NotFoundException", http_status_code=404)
    provider.end_meeting(_chime_meeting_ref())


def test_chime_end_meeting_other_error(chime):
    provider, stubber = chime
    stubber.add_client_error(
        "delete_meeting", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    with pytest.raises(VideoProviderError, match="ServiceUnavailableException"):
        provider.end_meeting(_chime_meeting_ref())


def test_chime_client_error(chime):
    provider, stubber = chime
    stubber.add_client_error("create_meeting", service_error_code="ForbiddenException", http_status_code=403)
    with pytest.raises(VideoProviderError, match="ForbiddenException"):
        provider.create_meeting(external_meeting_id="room-1", max_participants=3)
    stubber.add_client_error(
        "create_attendee", service_error_code="LimitExceededException", http_status_code=400
    )
    with pytest.raises(VideoProviderError):
        provider.join_token(_chime_meeting_ref(), DOCTOR, seconds=60)


def test_chime_not_configured(settings):
    settings.CHIME_REGION = ""
    with pytest.raises(VideoProviderError, match="not configured"):
        ChimeProvider().create_meeting(external_meeting_id="room-1", max_participants=3)
