"""Reads of reference data: diagnosis search by code prefix or by words, typo tolerant (pg_trgm)."""

from __future__ import annotations

import re

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import Case, IntegerField, Q, Value, When

from .models import Diagnosis

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
