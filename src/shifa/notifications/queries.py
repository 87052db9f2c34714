"""Reads of notifications: one's own list and unread count, preferences, push subscriptions."""

from __future__ import annotations

from shifa.core.pagination import Page, paginate

from .models import Notification, Preference, PushSubscription


def notification_list(*, user, unread_only: bool = False, cursor: str | None = None, limit: int = 50) -> Page:
    qs = Notification.objects.filter(recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def unread_count(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def preference_get(*, user) -> Preference:
    """The person's saved preference, or the defaults (every channel on, no quiet hours, no marketing)."""
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def push_subscription_list(*, user) -> list[PushSubscription]:
    return list(PushSubscription.objects.filter(user=user).order_by("created_at"))
