from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Schema


class NotificationOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    kind: str
    title: str
    body: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class PreferenceIn(Schema):
    push: bool = True
    email: bool = True
    sms: bool = True
    marketing: bool = False
    quiet_from: dt.time | None = Field(None, description="Local time in the person's time zone, e.g. 22:00")
    quiet_until: dt.time | None = Field(None, description="Local time, e.g. 07:00 (may be the next morning)")


class PreferenceOut(PreferenceIn):
    time_zone: str


class PushKeys(Schema):
    p256dh: str = Field(..., min_length=20, max_length=200)
    auth: str = Field(..., min_length=8, max_length=100)


class PushSubscriptionIn(Schema):
    endpoint: str = Field(..., min_length=10, max_length=1000)
    keys: PushKeys


class PushSubscriptionOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    endpoint: str
    created_at: dt.datetime


class PushKeyOut(Schema):
    public_key: str = Field(..., description="The VAPID application server key for PushManager.subscribe")
