"""The four channels behind one small interface: ``check`` (did the provider already accept this key?) and
``send``. Both raise ``ChannelError`` saying whether a retry may help. No database writes happen here."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field

from django.conf import settings

from . import kinds

logger = logging.getLogger(__name__)


class ChannelError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    key: str
    recipient: object  # accounts.User
    notification: object  # notifications.Notification
    rendered: dict
    urgent: bool
    subscriptions: tuple = ()


@dataclass
class Sent:
    provider_id: str
    gone_subscriptions: list[str] = field(default_factory=list)


def user_group(user) -> str:
    """The Channels group of one person's live in-app notifications."""
    return f"user.{user.external_id.hex}.notifications"


def _in_app(out: Outgoing) -> Sent:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from shifa.core.cache import UNREACHABLE

    layer = get_channel_layer()
    if layer is not None:
        n = out.notification
        try:
            async_to_sync(layer.group_send)(
                user_group(out.recipient),
                {
                    "type": "notification.created",
                    "data": {
                        "id": str(n.external_id),
                        "kind": n.kind,
                        "title": n.title,
                        "body": n.body,
                        "url": n.url,
                        "created_at": n.created_at.isoformat(),
                    },
                },
            )
        except UNREACHABLE as exc:
            # The notification is in the person's list already; only its live pop-up is lost while Redis is away.
            logger.warning(
                "live notification %s not pushed: channel layer unreachable (%s)", n.external_id, exc
            )
    return Sent(provider_id="in-app")


def _email(out: Outgoing) -> Sent:
    from django.core.mail import EmailMultiAlternatives

    user = out.recipient
    if not user.email or user.email_verified_at is None:
        raise ChannelError("no confirmed email address", retryable=False)
    message_id = f"<{out.key}@{settings.SHIFA_MAIL_DOMAIN}>"
    message = EmailMultiAlternatives(
        subject=out.rendered["subject"],
        body=out.rendered["text"],
        to=[user.email],
        # The same Message-ID on a retry lets mail systems recognise a repeat.
        headers={"Message-ID": message_id},
    )
    message.attach_alternative(out.rendered["html"], "text/html")
    try:
        message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise ChannelError(f"mail refused: {type(exc).__name__}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"mail server: {type(exc).__name__}", retryable=True) from exc
    return Sent(provider_id=message_id)


def _sms(out: Outgoing) -> Sent:
    from shifa.integrations.sms import SmsError, send_sms

    user = out.recipient
    if not user.phone or user.phone_verified_at is None:
        raise ChannelError("no confirmed phone number", retryable=False)
    try:
        result = send_sms(user.phone, out.rendered["sms"], idempotency_key=out.key)
    except SmsError as exc:
        raise ChannelError(str(exc), retryable=exc.retryable) from exc
    return Sent(provider_id=result.provider_id)


def _push(out: Outgoing) -> Sent:
    from shifa.integrations.push import PushError, Subscription, send_push

    if not out.subscriptions:
        raise ChannelError("no browser subscribed to push", retryable=False)
    payload = {
        "title": out.rendered["title"],
        "body": out.rendered["short"],
        "url": out.rendered.get("url") or "/",
        "tag": out.key,  # the browser shows one notification per tag, even if it receives a repeat
    }
    sent, gone, failures = [], [], []
    for sub in out.subscriptions:
        try:
            location = send_push(
                Subscription(endpoint=sub.endpoint, p256dh=sub.p256dh, auth=sub.auth),
                payload,
                key=out.key,
                urgent=out.urgent,
            )
            sent.append(location or sub.endpoint)
        except PushError as exc:
            if exc.gone:
                gone.append(sub.endpoint)
            else:
                failures.append(exc)
    if sent:
        return Sent(provider_id=sent[0][:200], gone_subscriptions=gone)
    if failures:
        raise ChannelError(str(failures[0]), retryable=any(f.retryable for f in failures))
    result = ChannelError("every push subscription has expired", retryable=False)
    result.gone_subscriptions = gone
    raise result


def already_accepted(channel: str, key: str) -> str | None:
    """The provider's id if it already accepted a message under ``key`` (checked before every attempt)."""
    if channel == kinds.SMS:
        from shifa.integrations.sms import backend

        return backend().already_accepted(key)
    return None


SENDERS = {kinds.IN_APP: _in_app, kinds.EMAIL: _email, kinds.SMS: _sms, kinds.PUSH: _push}


def send(channel: str, out: Outgoing) -> Sent:
    return SENDERS[channel](out)
