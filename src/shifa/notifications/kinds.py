"""What can be notified. Each kind has a category that decides how it treats quiet hours and preferences, the
channels it uses by default, and templates under ``templates/notifications/<code>/``:

* ``title.txt`` and ``short.txt`` — the in-app entry, the Web Push notification and the SMS text;
* ``subject.txt``, ``body.txt`` and ``body.html`` — the email.

Other apps register their kinds from their ``AppConfig.ready()`` with ``register``.
"""

from __future__ import annotations

from dataclasses import dataclass

URGENT = "urgent"  # urgent clinical alerts: may break through quiet hours
TRANSACTIONAL = "transactional"  # about the person's own account, visits, payments
MARKETING = "marketing"  # offers and news: only with consent, never during quiet hours

IN_APP, PUSH, EMAIL, SMS = "in_app", "push", "email", "sms"
CHANNELS = (IN_APP, PUSH, EMAIL, SMS)
#: Channels that interrupt (a buzz, a text): quiet hours hold them back. In-app entries and email wait silently.
INTERRUPTING = frozenset({PUSH, SMS})


@dataclass(frozen=True)
class Kind:
    code: str
    category: str
    channels: tuple[str, ...]
    template: str = ""  # the template folder when not the code (kinds that share wording)

    @property
    def folder(self) -> str:
        return f"notifications/{self.template or self.code}"


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.category not in {URGENT, TRANSACTIONAL, MARKETING}:
        raise ValueError(f"unknown category {kind.category!r}")
    if not set(kind.channels) <= set(CHANNELS) or IN_APP not in kind.channels:
        raise ValueError("a kind lists known channels and always has an in-app entry")
    _KINDS[kind.code] = kind
    return kind


def get(code: str) -> Kind:
    try:
        return _KINDS[code]
    except KeyError:
        raise LookupError(f"unknown notification kind {code!r}; register it in kinds.py") from None


PASSWORD_CHANGED = register(Kind("security.password_changed", TRANSACTIONAL, (IN_APP, EMAIL, PUSH)))
AUTHENTICATOR_REMOVED = register(Kind("security.authenticator_removed", TRANSACTIONAL, (IN_APP, EMAIL, PUSH)))
IDENTITY_LINKED = register(Kind("security.identity_linked", TRANSACTIONAL, (IN_APP, EMAIL, PUSH)))
LICENCE_EXPIRING = register(Kind("clinic.licence_expiring", TRANSACTIONAL, (IN_APP, EMAIL, PUSH)))
