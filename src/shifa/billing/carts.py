"""Who owns a PayTabs cart: a cart id starts with its owner's prefix (``inv-`` an invoice's payment, ``sub-`` a
subscription's), and the verified callback goes to that owner's handler."""

from __future__ import annotations

from collections.abc import Callable

from .paytabs import Result

_handlers: dict[str, Callable[[Result], None]] = {}


def register(prefix: str, handler: Callable[[Result], None]) -> None:
    """Route the verified transactions of carts named ``<prefix>-…`` to ``handler`` (called inside a
    transaction; it must be idempotent and accept transactions in any order)."""
    _handlers[prefix] = handler


def handler_for(cart_id: str) -> Callable[[Result], None] | None:
    prefix, _, rest = cart_id.partition("-")
    return _handlers.get(prefix) if rest else None
