"""Ratings of completed visits (BK-6): the patient rates once, the platform reviews, anyone reads the published."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.errors import NotFound
from shifa.core.schemas import ERRORS

from . import actions, queries

router = Router(tags=["ratings"])


class RatingIn(Schema):
    stars: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=1000)


class RatingOut(Schema):
    id: uuid.UUID
    appointment_id: uuid.UUID
    doctor: str
    clinic: str
    stars: int
    comment: str
    status: str
    created_at: dt.datetime


class RatingPage(Schema):
    items: list[RatingOut]
    next_cursor: str | None


class ReviewIn(Schema):
    decision: str = Field(..., pattern="^(publish|reject)$")
    note: str = Field("", max_length=300)


class QueueQuery(Schema):
    status: str = Field("pending", pattern="^(pending|published|rejected)$")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class PublishedQuery(Schema):
    clinic: uuid.UUID
    doctor: uuid.UUID


class PublishedOut(Schema):
    stars: int
    comment: str
    created_at: dt.datetime


def rating_out(rating, language: str = "en") -> dict:
    return {
        "id": rating.external_id,
        "appointment_id": rating.appointment.external_id,
        "doctor": rating.doctor.full_name,
        "clinic": rating.clinic.display_name(language),
        "stars": rating.stars,
        "comment": rating.comment,
        "status": rating.status,
        "created_at": rating.created_at,
    }


@router.post(
    "/appointments/{appointment_id}/rating",
    response={201: RatingOut, **ERRORS},
    operation_id="directory_rate_visit",
    summary="Rate one's completed visit, once (shown after the platform's review)",
    **operation("appointments.book"),
)
def rate_visit(request: HttpRequest, appointment_id: uuid.UUID, payload: RatingIn):
    rating = actions.rating_submit(
        actor=request.actor, appointment_id=appointment_id, stars=payload.stars, comment=payload.comment
    )
    return Status(201, rating_out(rating, getattr(request, "LANGUAGE_CODE", "en")))


@router.get(
    "/ratings",
    response={200: list[PublishedOut], **ERRORS},
    operation_id="directory_list_ratings",
    summary="What patients said of a doctor at a clinic (published ratings, newest first)",
    **operation(public=True, auth=None),
)
def list_ratings(request: HttpRequest, filters: Query[PublishedQuery]):
    from shifa.tenancy.queries import bookable_clinic, clinic_doctor

    clinic = bookable_clinic(filters.clinic)
    doctor = clinic_doctor(clinic, filters.doctor) if clinic else None
    if doctor is None:
        raise NotFound()
    return queries.published_ratings(clinic=clinic, doctor=doctor)


@router.get(
    "/platform/ratings",
    response={200: RatingPage, **ERRORS},
    operation_id="directory_list_rating_queue",
    summary="Ratings waiting for review (or reviewed), oldest first",
    **operation("platform.moderate_ratings"),
)
def rating_queue(request: HttpRequest, filters: Query[QueueQuery]):
    page = queries.rating_queue(status=filters.status, cursor=filters.cursor, limit=filters.limit)
    return {"items": [rating_out(r) for r in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/platform/ratings/{rating_id}/review",
    response={200: RatingOut, **ERRORS},
    operation_id="directory_review_rating",
    summary="Publish a rating, or reject it with a reason",
    **operation("platform.moderate_ratings"),
)
def review_rating(request: HttpRequest, rating_id: uuid.UUID, payload: ReviewIn):
    rating = actions.rating_review(
        actor=request.actor, rating_id=rating_id, publish=payload.decision == "publish", note=payload.note
    )
    return rating_out(rating)
