"""Email through Django's mail framework: SMTP when ``EMAIL_HOST`` is set, otherwise files in the outbox.

``send_templated_mail`` renders ``<template>_subject.txt``, ``<template>.txt`` and ``<template>.html`` in the
recipient's language and sends one multipart message. A server that cannot be reached raises ``MailError``.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from shifa.core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class MailError(ServiceUnavailable):
    code = "mail_unavailable"

    def default_detail(self) -> str:
        return translation.gettext("The email could not be sent. Try again shortly.")


def send_templated_mail(*, to: str, language: str, template: str, context: dict) -> None:
    with translation.override(language or settings.LANGUAGE_CODE):
        context = {**context, "language": language, "public_url": settings.SHIFA_PUBLIC_URL}
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("mail not sent", extra={"template": template, "error": type(exc).__name__})
        raise MailError() from exc
