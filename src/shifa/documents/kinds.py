"""Kinds of document and what each needs. The clinical record registers its own (prescription, referral, sick
leave, lab order) and billing the invoice, each with a template ``documents/<code>.html``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    code: str
    required: tuple[str, ...] = ()  # context keys that must be present and not empty
    limits: dict[str, int] = field(default_factory=dict)  # context key → most characters
    #: Clinical documents are asked for through the record (never the generic endpoint), are shown only to those
    #: who may read charts, and their reads are logged. Their context holds ids only: ``builder`` (a dotted path to
    #: ``f(document) -> dict``) reads the record when the PDF is rendered, so no clinical text is stored in the row.
    clinical: bool = False
    builder: str | None = None
    #: Dotted path to ``f(actor, document)`` called when someone downloads the document (the read log).
    on_read: str | None = None

    @property
    def template(self) -> str:
        return f"documents/{self.code}.html"


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    _KINDS[kind.code] = kind
    return kind


def get(code: str) -> Kind | None:
    return _KINDS.get(code)


def clinical_codes() -> list[str]:
    return [code for code, kind in _KINDS.items() if kind.clinical]


LETTER = register(Kind("letter", required=("recipient", "body"), limits={"recipient": 200, "body": 10000}))
