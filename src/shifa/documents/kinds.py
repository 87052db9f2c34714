"""Kinds of document and what each needs. The clinical record registers its own (prescription, referral, sick
leave, lab order) and billing the invoice, each with a template ``documents/<code>.html``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    code: str
    required: tuple[str, ...] = ()  # context keys that must be present and not empty
    limits: dict[str, int] = field(default_factory=dict)  # context key → most characters

    @property
    def template(self) -> str:
        return f"documents/{self.code}.html"


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    _KINDS[kind.code] = kind
    return kind


def get(code: str) -> Kind | None:
    return _KINDS.get(code)


LETTER = register(Kind("letter", required=("recipient", "body"), limits={"recipient": 200, "body": 10000}))
