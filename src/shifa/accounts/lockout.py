"""Brute-force protection for password sign-in (ID-6): growing back-off per account and per client address.

After ``free`` failures a key is locked for ``base`` seconds, and every further failure doubles the lock (up to
``cap``). While a key is locked the password is not even checked, so the lock gives away nothing. A successful
sign-in clears the account's failures, never the address's (an attacker's own account must not reset the count
of the address it attacks from).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before the first lock
    base: dt.timedelta
    cap: dt.timedelta
    #: After this long without a failure the count starts again (a typo last month is forgiven).
    forget_after: dt.timedelta = dt.timedelta(hours=24)

    def lock_for(self, failures: int) -> dt.timedelta | None:
        """How long ``failures`` failures lock the key (None: not locked)."""
        if failures < self.free:
            return None
        doublings = min(failures - self.free, 30)  # past the cap anyway; keeps the arithmetic small
        return min(self.base * (2**doublings), self.cap)


ACCOUNT = Policy(free=5, base=dt.timedelta(seconds=30), cap=dt.timedelta(hours=1))
# Clinics share one public address between many people: allow more before locking an address.
ADDRESS = Policy(free=30, base=dt.timedelta(seconds=60), cap=dt.timedelta(hours=1))


# Messages sent on request (confirmation links): three, then a growing wait.
RESEND = Policy(free=3, base=dt.timedelta(seconds=60), cap=dt.timedelta(hours=1))


# Text messages sent on request from one client address (guards against SMS pumping): twenty an hour.
SENDS = Policy(
    free=20, base=dt.timedelta(minutes=5), cap=dt.timedelta(hours=1), forget_after=dt.timedelta(hours=1)
)


# Sign-in nonces handed out to one client address: sixty an hour.
NONCES = Policy(
    free=60, base=dt.timedelta(minutes=1), cap=dt.timedelta(hours=1), forget_after=dt.timedelta(hours=1)
)


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests per fixed window of ``seconds``, counted in the cache (not the database: a
    read such as a search must not write an audited row)."""

    limit: int
    seconds: int


# Searches of the doctor directory (page and API), per signed-in user and per client address (a clinic's or a
# carrier's shared address holds many people): far more than anyone reads in a minute. Settings can change them.
SEARCHES = Window(limit=settings.SHIFA_SEARCHES_PER_MINUTE, seconds=60)
SEARCHES_FROM_ADDRESS = Window(limit=settings.SHIFA_SEARCHES_PER_MINUTE_FROM_ADDRESS, seconds=60)


def account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def address_key(address: str | None) -> str | None:
    """One key per IPv4 address, and per /64 network for IPv6 (one subscriber holds a whole /64)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address}"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def from_address(kind: str, address: str) -> str:
    """The key counting ``kind`` (texts sent, mails sent, nonces) from one client address or IPv6 /64."""
    return account_key(f"{kind}-from:{address_key(address)}")
