"""Writes of notifications: ``notify`` (called by every part of the product), delivery attempts, reading,
preferences and push subscriptions."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from shifa.core import faults, timezones
from shifa.core.errors import FieldError, NotFound, ValidationFailed

from . import channels, kinds
from .models import Delivery, DeliveryStatus, Notification, Preference, PushSubscription

MAX_ATTEMPTS = 6


def _render(kind: kinds.Kind, data: dict, language: str, url: str) -> dict:
    folder = kind.folder
    context = {**data, "url": url}
    with translation.override(language):
        one_line = {
            name: " ".join(render_to_string(f"{folder}/{name}.txt", context).split())
            for name in ("title", "short", "subject")
        }
        return {
            **one_line,
            "sms": f"{one_line['title']}: {one_line['short']}",
            "text": render_to_string(f"{folder}/body.txt", context),
            "html": render_to_string(f"{folder}/body.html", context),
            "url": url,
        }


def _zone(user) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or "Asia/Amman")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Amman")


def quiet_until(preference: Preference | None, user, now: dt.datetime) -> dt.datetime | None:
    """When the recipient's quiet hours end, if ``now`` falls in them (in their own time zone); else None."""
    if preference is None or preference.quiet_from is None or preference.quiet_until is None:
        return None
    start, end = preference.quiet_from, preference.quiet_until
    if start == end:
        return None
    local = now.astimezone(_zone(user))
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += dt.timedelta(days=1)
    return ends.astimezone(dt.UTC)


def _plan(
    channel: str, kind: kinds.Kind, preference: Preference | None, user, now
) -> tuple[str, dt.datetime | None]:
    """(status, when) for one channel of a new notification."""
    if channel == kinds.IN_APP:
        return DeliveryStatus.PENDING, None
    chosen = getattr(preference, channel, True) if preference is not None else True
    if kind.category == kinds.MARKETING and not (preference is not None and preference.marketing):
        return DeliveryStatus.SKIPPED, None
    if not chosen:
        return DeliveryStatus.SKIPPED, None
    if channel in kinds.INTERRUPTING and kind.category != kinds.URGENT:
        until = quiet_until(preference, user, now)
        if until is not None:
            return DeliveryStatus.DEFERRED, until
    return DeliveryStatus.PENDING, None


def notify(
    *, recipient, kind: str, data: dict, idempotency_key: str, clinic=None, url: str = ""
) -> Notification:
    """Tell ``recipient`` about something, on every channel the kind uses and the person allows.

    Call it inside the transaction of the event: the notification and its delivery jobs commit with the event
    or not at all. The same ``idempotency_key`` for the same recipient does nothing the second time.
    """
    spec = kinds.get(kind)
    existing = Notification.objects.filter(recipient=recipient, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    language = recipient.language or "ar"
    rendered = _render(spec, data, language, url)
    preference = Preference.objects.filter(user=recipient).first()
    now = timezones.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    **_fields(recipient, spec, idempotency_key, data, language, rendered, clinic, url)
                )
        except IntegrityError:  # the same event notified at the same moment elsewhere
            return Notification.objects.get(recipient=recipient, idempotency_key=idempotency_key)
        deliveries = _deliveries(notification, spec, preference, recipient, now)
        for delivery in deliveries:
            delivery.save()
        _queue(deliveries)
    return notification


def _fields(recipient, spec, idempotency_key, data, language, rendered, clinic, url) -> dict:
    return {
        "recipient": recipient,
        "clinic_id": getattr(clinic, "pk", clinic),
        "kind": spec.code,
        "category": spec.category,
        "idempotency_key": idempotency_key,
        "data": data,
        "language": language,
        "title": rendered["title"][:200],
        "body": rendered["short"],
        "url": url,
    }


def _deliveries(notification, spec, preference, recipient, now) -> list[Delivery]:
    """One delivery per channel of the kind, planned by the recipient's choices and quiet hours (not saved)."""
    found = []
    for channel in spec.channels:
        status, when = _plan(channel, spec, preference, recipient, now)
        found.append(
            Delivery(
                notification=notification,
                channel=channel,
                status=status,
                scheduled_for=when,
                last_error=_("Turned off by the recipient.") if status == DeliveryStatus.SKIPPED else "",
            )
        )
    return found


#: Deliveries attempted by one job when notifications are made in bulk.
DELIVERIES_PER_JOB = 100


def _queue(deliveries: list[Delivery], *, bulk: bool = False) -> None:
    """Jobs for saved deliveries: one per delivery held for quiet hours (at the time they end); the others now,
    one job each — or, for a bulk, one job per ``DELIVERIES_PER_JOB``."""
    from .tasks import deliver, deliver_many

    now_ids = [d.pk for d in deliveries if d.status == DeliveryStatus.PENDING]
    for delivery in deliveries:
        if delivery.status == DeliveryStatus.DEFERRED:
            deliver.configure(schedule_at=delivery.scheduled_for).defer(delivery_id=delivery.pk)
    if not bulk:
        for delivery_id in now_ids:
            deliver.defer(delivery_id=delivery_id)
    elif now_ids:
        deliver_many.batch_defer(
            *(
                {"delivery_ids": now_ids[i : i + DELIVERIES_PER_JOB]}
                for i in range(0, len(now_ids), DELIVERIES_PER_JOB)
            )
        )


@dataclass(frozen=True)
class Pending:
    """One notification to make with ``notify_many``."""

    recipient: object
    kind: str
    data: dict
    idempotency_key: str
    clinic: object = None
    url: str = ""


def notify_many(items: list[Pending]) -> int:
    """``notify`` for a batch (medication reminders by the thousand): the same rules and the same rendering, in a
    handful of statements — notifications already made (same recipient and key) are left alone, texts are rendered
    once per distinct content, and deliveries are queued a hundred per job.

    The caller holds the events of the batch exclusively (e.g. their rows locked), so nobody else makes the same
    notifications meanwhile. Returns how many notifications were made.
    """
    if not items:
        return 0
    now = timezones.now()
    recipients = {item.recipient.pk: item.recipient for item in items}
    keys = {item.idempotency_key for item in items}
    done = set(
        Notification.objects.filter(recipient_id__in=recipients, idempotency_key__in=keys).values_list(
            "recipient_id", "idempotency_key"
        )
    )
    preferences = {p.user_id: p for p in Preference.objects.filter(user_id__in=recipients)}
    rendered: dict[tuple, dict] = {}
    made: list[tuple[Notification, kinds.Kind]] = []
    for item in items:
        if (item.recipient.pk, item.idempotency_key) in done:
            continue
        done.add((item.recipient.pk, item.idempotency_key))
        spec = kinds.get(item.kind)
        language = item.recipient.language or "ar"
        content = (spec.code, language, item.url, json.dumps(item.data, sort_keys=True, default=str))
        if content not in rendered:
            rendered[content] = _render(spec, item.data, language, item.url)
        fields = _fields(
            item.recipient,
            spec,
            item.idempotency_key,
            item.data,
            language,
            rendered[content],
            item.clinic,
            item.url,
        )
        made.append((Notification(**fields), spec))
    with transaction.atomic():
        Notification.objects.bulk_create([n for n, _spec in made])
        deliveries = [
            delivery
            for notification, spec in made
            for delivery in _deliveries(
                notification, spec, preferences.get(notification.recipient_id), notification.recipient, now
            )
        ]
        Delivery.objects.bulk_create(deliveries)
        _queue(deliveries, bulk=True)
    return len(made)


def _outgoing(delivery: Delivery) -> channels.Outgoing:
    n = delivery.notification
    user = n.recipient
    spec = kinds.get(n.kind)
    subscriptions = (
        tuple(PushSubscription.objects.filter(user=user)) if delivery.channel == kinds.PUSH else ()
    )
    return channels.Outgoing(
        key=delivery.key,
        recipient=user,
        notification=n,
        rendered=_render(spec, n.data, n.language, n.url),
        urgent=spec.category == kinds.URGENT,
        subscriptions=subscriptions,
    )


class RetryLater(Exception):
    """Raised to the job runner so that it tries again with back-off."""


def delivery_attempt(*, delivery_id: int) -> str:
    """One attempt at one delivery; returns its status. Before every attempt the delivery is locked and the
    provider is asked whether it already accepted the key, so a crash after the provider's acceptance and
    before our commit never sends twice where the provider can tell."""
    from .tasks import deliver

    now = timezones.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("notification", "notification__recipient")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in {
            DeliveryStatus.SENT,
            DeliveryStatus.FAILED,
            DeliveryStatus.SKIPPED,
        }:
            return delivery.status if delivery else "missing"
        n = delivery.notification
        spec = kinds.get(n.kind)
        if delivery.channel in kinds.INTERRUPTING and spec.category != kinds.URGENT:
            preference = Preference.objects.filter(user=n.recipient).first()
            until = quiet_until(preference, n.recipient, now)
            if until is not None:  # quiet hours began (or were set) since it was queued
                delivery.status, delivery.scheduled_for = DeliveryStatus.DEFERRED, until
                delivery.save(update_fields=["status", "scheduled_for", "updated_at"])
                deliver.configure(schedule_at=until).defer(delivery_id=delivery.pk)
                return delivery.status
        accepted = channels.already_accepted(delivery.channel, delivery.key)
        if accepted is not None:
            delivery.status, delivery.provider_id, delivery.sent_at = DeliveryStatus.SENT, accepted[:200], now
            delivery.save(update_fields=["status", "provider_id", "sent_at", "updated_at"])
            return delivery.status
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.save(update_fields=["status", "attempts", "updated_at"])
        outgoing = _outgoing(delivery)
    try:
        sent = channels.send(delivery.channel, outgoing)
    except channels.ChannelError as exc:
        retry = exc.retryable and delivery.attempts < MAX_ATTEMPTS
        with transaction.atomic():
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED,
                last_error=str(exc)[:300],
                updated_at=timezones.now(),
            )
            gone = getattr(exc, "gone_subscriptions", [])
            if gone:
                PushSubscription.objects.filter(endpoint__in=gone).delete()
        if retry:
            raise RetryLater(str(exc)) from exc
        return DeliveryStatus.FAILED
    faults.point(f"notifications.after_provider_accepted.{delivery.channel}")
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENT,
            provider_id=sent.provider_id[:200],
            sent_at=timezones.now(),
            last_error="",
            updated_at=timezones.now(),
        )
        if sent.gone_subscriptions:
            PushSubscription.objects.filter(endpoint__in=sent.gone_subscriptions).delete()
    return DeliveryStatus.SENT


def notification_read(*, user, notification_id) -> None:
    updated = Notification.objects.filter(recipient=user, external_id=notification_id).update(
        read_at=timezones.now()
    )
    if not updated:
        raise NotFound()


def notifications_read_all(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezones.now())


def preference_set(
    *, user, push: bool, email: bool, sms: bool, marketing: bool, quiet_from, quiet_until
) -> Preference:
    """Save the person's channels and quiet hours (both ends or neither)."""
    if (quiet_from is None) != (quiet_until is None):
        field = "quiet_until" if quiet_until is None else "quiet_from"
        raise ValidationFailed(
            errors=[FieldError(field, "required", _("Give both ends of the quiet hours, or neither."))]
        )
    if quiet_from is not None and quiet_from == quiet_until:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "quiet_until", "invalid", _("Quiet hours must end at another time than they start.")
                )
            ]
        )
    preference, _created = Preference.objects.update_or_create(
        user=user,
        defaults={
            "push": push,
            "email": email,
            "sms": sms,
            "marketing": marketing,
            "quiet_from": quiet_from,
            "quiet_until": quiet_until,
        },
    )
    return preference


def push_subscribe(*, user, endpoint: str, p256dh: str, auth: str, user_agent: str = "") -> PushSubscription:
    """Remember a browser's push subscription (the same endpoint moves to whoever subscribed last)."""
    from urllib.parse import urlsplit

    if urlsplit(endpoint).scheme not in {"https", "http"}:
        raise ValidationFailed(errors=[FieldError("endpoint", "invalid", _("Not a push endpoint."))])
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]},
    )
    return subscription


def push_unsubscribe(*, user, subscription_id) -> None:
    deleted, _ = PushSubscription.objects.filter(user=user, external_id=subscription_id).delete()
    if not deleted:
        raise NotFound()
