"""How an import went, in words (the caller's language). ``HistoryImport.summary`` keeps only codes, counts and
Hakeem's own names of what was left out:

``{"found": bool, "patients": ["Patient/1"], "kinds": {kind: {"filed", "already_there", "from_shifa",
"skipped"}}, "left_out": [{"kind", "ref", "name", "reason"}], "truncated": bool, "error_code": str}``
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from shifa.integrations.hakeem.models import ImportState, ImportStep

from . import reading

KIND_LABELS = {
    reading.CONDITIONS: gettext_lazy("Chronic conditions"),
    reading.ALLERGIES: gettext_lazy("Allergies"),
    reading.MEDICATIONS: gettext_lazy("Current medicines"),
    reading.IMMUNIZATIONS: gettext_lazy("Immunizations"),
    reading.VITALS: gettext_lazy("Vital sign readings"),
}

REASONS = {
    reading.ENTERED_IN_ERROR: gettext_lazy("entered in error on Hakeem"),
    reading.NOT_IN_CATALOG: gettext_lazy("not in our catalog"),
    reading.UNKNOWN_CODE: gettext_lazy("its code is not one we know"),
    reading.NOT_TAKEN: gettext_lazy("not taken"),
    reading.NOT_DONE: gettext_lazy("not given"),
    reading.NO_DATE: gettext_lazy("no valid date"),
    reading.NO_VALUE: gettext_lazy("no value"),
    reading.UNKNOWN_UNIT: gettext_lazy("in a unit we do not chart"),
    reading.OUT_OF_RANGE: gettext_lazy("a value the sign cannot have"),
    reading.NOT_FINAL: gettext_lazy("not final"),
}

#: Why an import failed (``summary["error_code"]``).
UNAVAILABLE, REJECTED, STALLED, BROKEN = "unavailable", "rejected", "stalled", "internal"
ERRORS = {
    UNAVAILABLE: gettext_lazy("Hakeem could not be reached. Start the import again in a while."),
    REJECTED: gettext_lazy("Hakeem refused the request."),
    STALLED: gettext_lazy("The import did not finish. Start it again."),
    BROKEN: gettext_lazy(
        "The import stopped on an error on our side. Start it again; if it fails again, tell us."
    ),
}


def progress(history_import) -> dict | None:
    """How far a running import is: ``text`` in words and, while filing, ``value`` of ``max`` resources gone through
    (``max`` is 0 while the count is not known). ``None`` once it has ended."""
    if history_import.state != ImportState.RUNNING:
        return None
    step = history_import.step
    if step == ImportStep.FILING:
        return {
            "step": step,
            "text": _("Filing into the record: %(done)s of %(total)s")
            % {"done": history_import.done, "total": history_import.total},
            "value": history_import.done,
            "max": history_import.total,
        }
    texts = {
        ImportStep.FINDING: _("Finding the patient on Hakeem…"),
        ImportStep.READING: _("Reading their history on Hakeem…"),
    }
    return {"step": step, "text": texts.get(step, _("Waiting to start…")), "value": 0, "max": 0}


def reason_text(code: str) -> str:
    return str(REASONS.get(code, code))


def kind_counts(summary: dict) -> list[dict]:
    """Per kind, in filing order: its label and counts (kinds Hakeem had nothing of are left out)."""
    rows = []
    for kind in reading.KINDS:
        counts = (summary.get("kinds") or {}).get(kind) or {}
        if any(counts.get(k) for k in ("filed", "already_there", "from_shifa", "skipped")):
            rows.append(
                {
                    "kind": kind,
                    "label": str(KIND_LABELS[kind]),
                    "filed": counts.get("filed", 0),
                    "already_there": counts.get("already_there", 0),
                    "from_shifa": counts.get("from_shifa", 0),
                    "skipped": counts.get("skipped", 0),
                }
            )
    return rows


def _count_line(row: dict) -> str:
    parts = [
        ngettext("%(count)s filed", "%(count)s filed", row["filed"]) % {"count": row["filed"]},
    ]
    there = row["already_there"] + row["from_shifa"]
    if there:
        parts.append(
            ngettext("%(count)s already in the record", "%(count)s already in the record", there)
            % {"count": there}
        )
    if row["skipped"]:
        parts.append(
            ngettext("%(count)s left out", "%(count)s left out", row["skipped"]) % {"count": row["skipped"]}
        )
    return _("%(kind)s: %(counts)s") % {"kind": row["label"], "counts": ", ".join(parts)}


def lines(history_import, *, names: bool) -> list[str]:
    """The import's outcome as sentences. ``names``: also what was left out, by name (clinical content, for those
    who may read the chart)."""
    summary = history_import.summary or {}
    if history_import.state == ImportState.RUNNING:
        return [progress(history_import)["text"]]
    if history_import.state == ImportState.FAILED:
        return [str(ERRORS.get(summary.get("error_code"), ERRORS[BROKEN]))]
    if not summary.get("found"):
        return [_("Not found on Hakeem: Hakeem has no record with this national ID.")]
    rows = kind_counts(summary)
    if not rows:
        return [_("Hakeem has nothing to import for this patient.")]
    result = [_count_line(row) for row in rows]
    if names:
        for entry in summary.get("left_out") or []:
            result.append(
                _("Left out: %(name)s (%(reason)s)")
                % {
                    "name": entry.get("name") or entry.get("ref"),
                    "reason": reason_text(entry.get("reason", "")),
                }
            )
    if summary.get("truncated"):
        result.append(_("Hakeem holds more than one import can read: only part of it was imported."))
    return result
