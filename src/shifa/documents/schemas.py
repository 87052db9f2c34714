from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Schema


class DocumentIn(Schema):
    kind: str = Field(..., min_length=1, max_length=40, examples=["letter"])
    title: str = Field(..., min_length=1, max_length=200)
    language: str = Field("ar", pattern="^(ar|en)$")
    context: dict = Field(default_factory=dict, description="What the kind needs, e.g. {recipient, body}")


class DocumentOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    kind: str
    title: str
    language: str
    status: str
    size: int
    sha256: str
    error: str
    created_at: dt.datetime
    ready_at: dt.datetime | None


class DocumentPage(Schema):
    items: list[DocumentOut]
    next_cursor: str | None


class LinkOut(Schema):
    url: str
    expires_at: dt.datetime
