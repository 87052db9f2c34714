"""One's own notifications, notification preferences and Web Push subscriptions."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import actions, queries
from .schemas import (
    NotificationPage,
    PreferenceIn,
    PreferenceOut,
    PushKeyOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)

router = Router(tags=["notifications"])
OWN = operation("notifications.manage_own")


class ListParams(Schema):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)
    unread: bool = False


@router.get(
    "/me/notifications",
    response={200: NotificationPage, **ERRORS},
    operation_id="notifications_list",
    summary="One's notifications, newest first, with the number unread",
    **OWN,
)
def list_notifications(request: HttpRequest, params: Query[ListParams]):
    user = request.actor.user
    page = queries.notification_list(
        user=user, unread_only=params.unread, cursor=params.cursor, limit=params.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor, "unread": queries.unread_count(user=user)}


@router.post(
    "/me/notifications/{notification_id}/read",
    response={204: None, **ERRORS},
    operation_id="notifications_mark_read",
    summary="Mark one notification read",
    **OWN,
)
def mark_read(request: HttpRequest, notification_id: uuid.UUID):
    actions.notification_read(user=request.actor.user, notification_id=notification_id)
    return HttpResponse(status=204)


@router.post(
    "/me/notifications/read-all",
    response={204: None, **ERRORS},
    operation_id="notifications_mark_all_read",
    summary="Mark every notification read",
    **OWN,
)
def mark_all_read(request: HttpRequest):
    actions.notifications_read_all(user=request.actor.user)
    return HttpResponse(status=204)


def _preference_out(preference, user) -> dict:
    return {
        "push": preference.push,
        "email": preference.email,
        "sms": preference.sms,
        "marketing": preference.marketing,
        "quiet_from": preference.quiet_from,
        "quiet_until": preference.quiet_until,
        "time_zone": user.time_zone,
    }


@router.get(
    "/me/notification-preferences",
    response={200: PreferenceOut, **ERRORS},
    operation_id="notifications_get_preferences",
    summary="How one is notified: channels, quiet hours, news and offers",
    **OWN,
)
def get_preferences(request: HttpRequest):
    user = request.actor.user
    return _preference_out(queries.preference_get(user=user), user)


@router.put(
    "/me/notification-preferences",
    response={200: PreferenceOut, **ERRORS},
    operation_id="notifications_set_preferences",
    summary="Choose channels and quiet hours (urgent clinical alerts may still come through quiet hours)",
    **OWN,
)
def set_preferences(request: HttpRequest, payload: PreferenceIn):
    user = request.actor.user
    return _preference_out(actions.preference_set(user=user, **payload.dict()), user)


@router.get(
    "/push/public-key",
    response={200: PushKeyOut, **ERRORS},
    operation_id="notifications_push_public_key",
    summary="The key a browser subscribes to Web Push with",
    **OWN,
)
def push_public_key(request: HttpRequest):
    from shifa.integrations.push import public_key

    return {"public_key": public_key()}


@router.post(
    "/me/push-subscriptions",
    response={201: PushSubscriptionOut, **ERRORS},
    operation_id="notifications_subscribe_push",
    summary="Register this browser's Web Push subscription",
    **OWN,
)
def subscribe_push(request: HttpRequest, payload: PushSubscriptionIn):
    subscription = actions.push_subscribe(
        user=request.actor.user,
        endpoint=payload.endpoint,
        p256dh=payload.keys.p256dh,
        auth=payload.keys.auth,
        user_agent=request.headers.get("User-Agent", ""),
    )
    return Status(201, subscription)


@router.get(
    "/me/push-subscriptions",
    response={200: list[PushSubscriptionOut], **ERRORS},
    operation_id="notifications_list_push",
    summary="The browsers that receive one's push notifications",
    **OWN,
)
def list_push(request: HttpRequest):
    return queries.push_subscription_list(user=request.actor.user)


@router.delete(
    "/me/push-subscriptions/{subscription_id}",
    response={204: None, **ERRORS},
    operation_id="notifications_unsubscribe_push",
    summary="Stop push notifications to one browser",
    **OWN,
)
def unsubscribe_push(request: HttpRequest, subscription_id: uuid.UUID):
    actions.push_unsubscribe(user=request.actor.user, subscription_id=subscription_id)
    return HttpResponse(status=204)
