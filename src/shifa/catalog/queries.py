"""Reads of reference data: diagnosis search by code prefix or by words, typo tolerant (pg_trgm)."""

from __future__ import annotations

import re
from decimal import Decimal

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils.translation import gettext_lazy as _

from .models import Diagnosis, VaccineDose

_CODE = re.compile(r"^[VE]?\d[\d.]*$", re.IGNORECASE)
#: How alike a misspelt word must be to a word of the description (pg_trgm word similarity, 0 to 1).
TYPO_THRESHOLD = 0.5


def diagnosis_search(query: str, *, limit: int = 20) -> list[Diagnosis]:
    """Codes first when the query looks like one (``250``, ``250.0``, ``V10.4``); otherwise descriptions that
    contain every word, best first — those that begin with the words, then by code — and, for misspellings,
    descriptions with a word close enough to the query."""
    query = " ".join(query.split())
    if not query:
        return []
    active = Diagnosis.objects.filter(is_active=True)
    if _CODE.match(query):
        prefix = query.upper().replace(".", "")
        return list(active.filter(code__startswith=prefix).order_by("code")[:limit])
    words = query.split(" ")
    every_word = Q()
    for word in words:
        every_word &= Q(title__icontains=word)
    exact = list(
        active.filter(every_word)
        .annotate(
            begins=Case(
                When(title__istartswith=query, then=Value(1)), default=Value(0), output_field=IntegerField()
            )
        )
        .order_by("-begins", "code")[:limit]
    )
    if len(exact) >= limit:
        return exact
    close = (
        active.exclude(pk__in=[d.pk for d in exact])
        .annotate(similarity=TrigramWordSimilarity(query, "title"))
        .filter(similarity__gte=TYPO_THRESHOLD)
        .order_by("-similarity", "code")[: limit - len(exact)]
    )
    return exact + list(close)


def reference_list(slug: str):
    """The declaration of one editable reference list, or 404."""
    from shifa.core.errors import NotFound

    from .registry import LISTS

    try:
        return LISTS[slug]
    except KeyError:
        raise NotFound(detail=_("There is no such reference list.")) from None


def reference_entries(spec, *, query: str = "", active_only: bool = False):
    """A list's entries, in its order, narrowed to those whose searched fields contain every word of ``query``."""
    qs = spec.model.objects.all()
    if spec.model is VaccineDose:
        qs = qs.select_related("vaccine")
    if active_only and hasattr(spec.model, "is_active"):
        qs = qs.filter(is_active=True)
    for word in query.split()[:8]:
        any_field = Q()
        for field in spec.search:
            any_field |= Q(**{f"{field}__icontains": word})
        qs = qs.filter(any_field)
    return qs.order_by(*spec.order)


def reference_entry(spec, entry_id):
    from shifa.core.errors import NotFound

    entry = spec.model.objects.filter(external_id=entry_id).first()
    if entry is None:
        raise NotFound(detail=_("This entry does not exist."))
    return entry


def reference_counts() -> list[tuple]:
    """Every editable list with how many entries it holds, and how many are in use."""
    from .registry import LISTS

    rows = []
    for spec in LISTS.values():
        qs = spec.model.objects.all()
        in_use = qs.filter(is_active=True).count() if hasattr(spec.model, "is_active") else None
        rows.append((spec, qs.count(), in_use))
    return rows


def reference_entry_data(spec, entry) -> dict:
    """An entry as the API answers it: its id, then its editable fields (a linked entry by its code)."""
    data = {"id": str(entry.external_id)}
    for name in spec.fields:
        if name == "is_active":
            continue
        value = getattr(entry, name)
        if hasattr(value, "code"):
            value = value.code
        elif isinstance(value, Decimal):
            value = str(value)
        data[name] = value
    return data
