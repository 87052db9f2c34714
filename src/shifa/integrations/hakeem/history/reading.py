"""What a patient's history on Hakeem says, in our terms: each FHIR resource of ``$everything`` becomes an ``Item``
(the rows it would file, or why it cannot be filed), matched against our catalogs. Reads only; ``actions`` files.

Matching, as far as our catalogs allow:

- Condition: its ICD-9-CM code (``catalog.Diagnosis``, by ``display_code``, dotted or not). Problem-list items and
  encounter diagnoses alike; entered in error or refuted → left out; clinical status inactive, remission or
  resolved → "no longer applies".
- AllergyIntolerance: a catalog medicine by ATC code, exact name or brand (then prescriptions are checked against
  it); otherwise the substance as Hakeem names it. Reaction from the manifestations, severity from the reactions'
  severity or else the criticality.
- MedicationStatement, MedicationRequest: a catalog medicine by ATC code or by name ("Metformin 500 mg" is
  metformin, dosage "500 mg" unless the resource gives one); none → left out, "not in our catalog".
- Immunization: a catalog vaccine by CVX code (formulations of one vaccine count as it), else by name or its
  abbreviation ("Td (adult), adsorbed" → Td).
- Observation: each vital sign of our catalog by LOINC code (a blood-pressure panel's components are the systolic
  and diastolic readings); values in another unit are converted (lb, °F, in, g, mmol/L glucose), and a value
  outside what the sign can be is left out, as it is when typed at the clinic.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from shifa.core import timezones
from shifa.integrations.hakeem import fhir

CVX = "http://hl7.org/fhir/sid/cvx"

CONDITIONS, ALLERGIES, MEDICATIONS, IMMUNIZATIONS, VITALS = (
    "conditions",
    "allergies",
    "medications",
    "immunizations",
    "vitals",
)
#: What an import files, in the order it files them.
KINDS = (CONDITIONS, ALLERGIES, MEDICATIONS, IMMUNIZATIONS, VITALS)
RESOURCE_KINDS = {
    "Condition": CONDITIONS,
    "AllergyIntolerance": ALLERGIES,
    "MedicationStatement": MEDICATIONS,
    "MedicationRequest": MEDICATIONS,
    "Immunization": IMMUNIZATIONS,
    "Observation": VITALS,
}

# Why a resource is left out (``Item.skip``); ``summary.REASONS`` words them.
ENTERED_IN_ERROR = "entered_in_error"
NOT_IN_CATALOG = "not_in_catalog"
UNKNOWN_CODE = "unknown_code"
NOT_TAKEN = "not_taken"
NOT_DONE = "not_done"
NO_DATE = "no_date"
NO_VALUE = "no_value"
UNKNOWN_UNIT = "unknown_unit"
OUT_OF_RANGE = "out_of_range"
NOT_FINAL = "not_final"

#: CVX codes of formulations of one vaccine → the code our catalog knows it by (Td, adult: adsorbed, preservative
#: free, not adsorbed, unspecified formulation).
CVX_SAME_VACCINE = {"9": "139", "113": "139", "138": "139"}

_CLINICAL_RESOLVED = {"inactive", "remission", "resolved"}
_SEVERITY_ORDER = {"mild": 1, "moderate": 2, "severe": 3}
_CRITICALITY = {"high": "severe", "low": "mild"}


@dataclass
class Item:
    """One resource of the history: the rows it files (field values; several for a blood-pressure panel), or the
    reason it is left out (``skip``); ``from_shifa`` when it carries our own identifier (it is in our record)."""

    kind: str
    ref: str
    name: str
    rows: list[dict] = field(default_factory=list)
    skip: str = ""
    from_shifa: bool = False


# --- FHIR values ---------------------------------------------------------------------------------------------------


def ref_of(resource: dict) -> str:
    return f"{resource.get('resourceType', '')}/{resource.get('id', '')}"


def from_shifa(resource: dict) -> bool:
    """Carries one of our identifiers: a clinic on Shifa sent it, so it is in our record already."""
    return any(
        str(i.get("system", "")).startswith(fhir.ID_SYSTEM) and i.get("system") != fhir.NATIONAL_ID_SYSTEM
        for i in resource.get("identifier") or []
        if isinstance(i, dict)
    )


def has_national_id(patient: dict, national_id: str) -> bool:
    return any(
        i.get("system") == fhir.NATIONAL_ID_SYSTEM and i.get("value") == national_id
        for i in patient.get("identifier") or []
        if isinstance(i, dict)
    )


def about(resource: dict, patient_ids: set[str]) -> bool:
    """The resource is about one of the patients found (its subject, or patient, refers to them)."""
    subject = resource.get("subject") or resource.get("patient") or {}
    reference = subject.get("reference", "") if isinstance(subject, dict) else ""
    return any(reference == f"Patient/{pid}" or reference.endswith(f"/Patient/{pid}") for pid in patient_ids)


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str


def codings(concept) -> list[Coding]:
    if not isinstance(concept, dict):
        return []
    return [
        Coding(
            str(c.get("system") or ""), str(c.get("code") or "").strip(), str(c.get("display") or "").strip()
        )
        for c in concept.get("coding") or []
        if isinstance(c, dict)
    ]


def names_of(concept) -> list[str]:
    """The concept's text, then its codings' displays: how Hakeem names it."""
    if not isinstance(concept, dict):
        return []
    found = [str(concept.get("text") or "").strip(), *(c.display for c in codings(concept))]
    return [n for i, n in enumerate(found) if n and n not in found[:i]]


def _status_code(concept) -> str:
    return next((c.code for c in codings(concept) if c.code), "")


def _name(concept, fallback: str = "") -> str:
    names = names_of(concept)
    if names:
        return names[0][:200]
    return next((c.code for c in codings(concept) if c.code), fallback)[:200]


_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def as_date(value, zone: str) -> dt.date | None:
    """A FHIR date or dateTime as a day (in the clinic's zone); a year or a month alone counts from its first day."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if "T" in value:
        moment = as_instant(value, zone)
        return timezones.to_local(moment, zone).date() if moment else None
    match = _DATE.fullmatch(value)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
    except ValueError:
        return None


def as_instant(value, zone: str) -> dt.datetime | None:
    """A FHIR dateTime with a time as an aware moment; a day alone is its midnight in the clinic's zone."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if "T" not in value:
        match = _DATE.fullmatch(value)
        if not match or not match[3]:
            return None
        day = as_date(value, zone)
        return timezones.local_datetime(day, dt.time(0), zone) if day else None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezones.zone(zone))
    return moment.astimezone(dt.UTC)


def _not_future(day: dt.date | None, zone: str) -> dt.date | None:
    today = timezones.to_local(timezones.now(), zone).date()
    return day if day is not None and day <= today else None


def _notes(resource: dict) -> str:
    return "\n".join(
        str(n.get("text")).strip()
        for n in resource.get("note") or []
        if isinstance(n, dict) and n.get("text")
    )


# --- our catalogs --------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


_NAME_END = set(" ,;/(-+0123456789")


class Catalog:
    """Our reference data as the matching needs it, read once per import."""

    def __init__(self):
        self._medications: dict[str, set] | None = None
        self._vaccines: list | None = None
        self._vitals: dict | None = None
        self._diagnoses: dict[str, object] = {}

    # diagnoses
    def diagnosis(self, code: str):
        from shifa.catalog.models import Diagnosis

        code = code.strip().upper()
        if code not in self._diagnoses:
            self._diagnoses[code] = (
                Diagnosis.objects.filter(is_active=True, code=code.replace(".", "")).first() if code else None
            )
        return self._diagnoses[code]

    # medications
    def _medication_names(self) -> dict[str, set]:
        from shifa.catalog.models import Medication

        if self._medications is None:
            names: dict[str, set] = {}
            for med in Medication.objects.filter(is_active=True):
                for name in (med.name_en, med.name_ar, med.code, *(med.brands or [])):
                    if name and str(name).strip():
                        names.setdefault(_norm(name), set()).add(med)
            self._medications = names
        return self._medications

    def medication(self, concept) -> tuple[object | None, str]:
        """The catalog medicine the concept names, and what its name leaves over ("500 mg"), or (None, "")."""
        from shifa.catalog.models import Medication

        for c in codings(concept):
            if c.system == fhir.ATC and c.code:
                found = list(Medication.objects.filter(is_active=True, atc_code=c.code.upper())[:2])
                if len(found) == 1:
                    return found[0], ""
            if c.system == fhir.SHIFA_MEDICATION and c.code:
                found = Medication.objects.filter(is_active=True, code=c.code).first()
                if found is not None:
                    return found, ""
        names = self._medication_names()
        for text in names_of(concept):
            wanted = _norm(text)
            exact = names.get(wanted)
            if exact is not None and len(exact) == 1:
                return next(iter(exact)), ""
            # The longest catalog name the text starts with, followed by a strength or a form.
            best = None
            for name, meds in names.items():
                if (
                    len(meds) == 1
                    and len(name) < len(wanted)
                    and wanted.startswith(name)
                    and wanted[len(name)] in _NAME_END
                    and (best is None or len(name) > len(best))
                ):
                    best = name
            if best is not None:
                rest = " ".join(text.split())[len(best) :].strip(" ,;-/")
                return next(iter(names[best])), rest
        return None, ""

    # vaccines
    def _all_vaccines(self) -> list:
        from shifa.catalog.models import Vaccine

        if self._vaccines is None:
            self._vaccines = list(Vaccine.objects.filter(is_active=True).order_by("pk"))
        return self._vaccines

    def vaccine(self, concept):
        vaccines = self._all_vaccines()
        for c in codings(concept):
            if c.system == CVX and c.code:
                code = c.code.lstrip("0")
                wanted = {code, CVX_SAME_VACCINE.get(code, code)}
                found = [v for v in vaccines if v.cvx and v.cvx.lstrip("0") in wanted]
                if len(found) == 1:
                    return found[0]
        texts = names_of(concept)
        for text in texts:
            wanted = _norm(text)
            found = [v for v in vaccines if wanted in {_norm(v.name_en), _norm(v.name_ar), v.code.lower()}]
            if len(found) == 1:
                return found[0]
        for (
            text
        ) in texts:  # an abbreviation: the first word, or one in brackets ("Tetanus and diphtheria (Td)")
            tokens = re.findall(r"^\s*([A-Za-z0-9]+)|\(([A-Za-z0-9]+)\)", text)
            for token in (a or b for a, b in tokens):
                token = token.lower()
                found = [v for v in vaccines if v.code.lower() == token]
                if len(found) == 1:
                    return found[0]
        return None

    # vital signs
    def vital_kinds(self) -> dict:
        from shifa.catalog.models import VitalSignType

        if self._vitals is None:
            self._vitals = {k.code: k for k in VitalSignType.objects.filter(is_active=True)}
        return self._vitals


# --- units of vital signs ------------------------------------------------------------------------------------------

_UNIT_NAMES = {
    "mmhg": "mm[Hg]",
    "mm hg": "mm[Hg]",
    "mm[hg]": "mm[Hg]",
    "/min": "/min",
    "bpm": "/min",
    "beats/min": "/min",
    "{beats}/min": "/min",
    "breaths/min": "/min",
    "{breaths}/min": "/min",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
    "[degf]": "[degF]",
    "°f": "[degF]",
    "degf": "[degF]",
    "%": "%",
    "kg": "kg",
    "g": "g",
    "[lb_av]": "[lb_av]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "[in_i]": "[in_i]",
    "in": "[in_i]",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "{score}": "{score}",
}
_CONVERSIONS = {
    ("[lb_av]", "kg"): lambda v: v * Decimal("0.45359237"),
    ("g", "kg"): lambda v: v / 1000,
    ("[degF]", "Cel"): lambda v: (v - 32) * 5 / 9,
    ("[in_i]", "cm"): lambda v: v * Decimal("2.54"),
    ("m", "cm"): lambda v: v * 100,
    ("mmol/L", "mg/dL"): lambda v: v * Decimal("18.016"),  # glucose, the only sign we chart in mg/dL
}


def _reading(quantity, kind) -> tuple[Decimal | None, str]:
    """A valueQuantity as a value of ``kind`` in its unit (rounded as the sign is), or the reason it is not one."""
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None, NO_VALUE
    try:
        value = Decimal(str(quantity["value"]))
    except (InvalidOperation, ValueError):
        return None, NO_VALUE
    if not value.is_finite():
        return None, NO_VALUE
    given = str(quantity.get("code") or quantity.get("unit") or "").strip()
    unit = given if given == kind.unit else _UNIT_NAMES.get(given.lower(), given)
    if given and kind.unit and unit != kind.unit:
        convert = _CONVERSIONS.get((unit, kind.unit))
        if convert is None:
            return None, UNKNOWN_UNIT
        value = convert(value)
    value = round(value, kind.decimals)
    if not kind.lowest <= value <= kind.highest:
        return None, OUT_OF_RANGE
    return value, ""


# --- resources → items ---------------------------------------------------------------------------------------------


def interpret(resource: dict, catalog: Catalog, zone: str, *, medications: dict | None = None) -> Item | None:
    """The item one resource of the history is, or None if it is nothing we file (an Encounter, a lab result …).
    ``medications`` holds the history's Medication resources by reference, for a ``medicationReference``."""
    kind = RESOURCE_KINDS.get(resource.get("resourceType", ""))
    if kind is None:
        return None
    build = {
        CONDITIONS: _condition,
        ALLERGIES: _allergy,
        MEDICATIONS: _medication,
        IMMUNIZATIONS: _immunization,
        VITALS: _observation,
    }[kind]
    item = build(resource, catalog, zone, medications or {})
    if item is not None and from_shifa(resource):
        item.rows, item.skip, item.from_shifa = [], "", True
    return item


def _condition(res: dict, catalog: Catalog, zone: str, _meds) -> Item:
    item = Item(CONDITIONS, ref_of(res), _name(res.get("code"), "Condition"))
    if _status_code(res.get("verificationStatus")) in ("entered-in-error", "refuted"):
        item.skip = ENTERED_IN_ERROR
        return item
    codes = [c.code for c in codings(res.get("code")) if c.system == fhir.ICD9CM and c.code]
    diagnosis = next((d for d in map(catalog.diagnosis, codes) if d is not None), None)
    if diagnosis is None:
        item.skip = UNKNOWN_CODE
        return item
    clinical = _status_code(res.get("clinicalStatus"))
    resolved = clinical in _CLINICAL_RESOLVED or (not clinical and bool(res.get("abatementDateTime")))
    categories = {c.code for concept in res.get("category") or [] for c in codings(concept)}
    if "encounter-diagnosis" in categories and "problem-list-item" not in categories:
        resolved = True  # a past visit's diagnosis is history, not a standing condition of today
    onset = res.get("onsetDateTime") or (res.get("onsetPeriod") or {}).get("start")
    item.rows = [
        {
            "diagnosis": diagnosis,
            "status": "resolved" if resolved else "active",
            "since": _not_future(as_date(onset, zone), zone),
            "note": _notes(res),
        }
    ]
    return item


def _allergy(res: dict, catalog: Catalog, zone: str, _meds) -> Item:
    concept = res.get("code")
    item = Item(ALLERGIES, ref_of(res), _name(concept, "Allergy"))
    if _status_code(res.get("verificationStatus")) in ("entered-in-error", "refuted"):
        item.skip = ENTERED_IN_ERROR
        return item
    medication, _rest = catalog.medication(concept)
    substance = "" if medication is not None else _name(concept)
    if medication is None and not substance:
        item.skip = UNKNOWN_CODE
        return item
    reactions, severities = [], []
    for reaction in res.get("reaction") or []:
        if not isinstance(reaction, dict):
            continue
        for manifestation in reaction.get("manifestation") or []:
            words = _name(manifestation)
            if words and words not in reactions:
                reactions.append(words)
        if reaction.get("description") and reaction["description"] not in reactions:
            reactions.append(str(reaction["description"]).strip())
        if reaction.get("severity") in _SEVERITY_ORDER:
            severities.append(reaction["severity"])
    severity = (
        max(severities, key=_SEVERITY_ORDER.get)
        if severities
        else _CRITICALITY.get(res.get("criticality", ""), "moderate")
    )
    clinical = _status_code(res.get("clinicalStatus"))
    item.rows = [
        {
            "medication": medication,
            "substance": substance[:200],
            "reaction": ", ".join(reactions)[:200],
            "severity": severity,
            "status": "resolved" if clinical in _CLINICAL_RESOLVED else "active",
            "note": _notes(res),
        }
    ]
    return item


def _medication_concept(res: dict, medications: dict) -> dict:
    if isinstance(res.get("medicationCodeableConcept"), dict):
        return res["medicationCodeableConcept"]
    reference = res.get("medicationReference") or {}
    target = str(reference.get("reference", ""))
    found = None
    if target.startswith("#"):
        found = next(
            (c for c in res.get("contained") or [] if isinstance(c, dict) and c.get("id") == target[1:]), None
        )
    elif target:
        found = medications.get(target) or medications.get("/".join(target.split("/")[-2:]))
    concept = dict(found.get("code") or {}) if found else {}
    if reference.get("display") and not concept.get("text"):
        concept["text"] = reference["display"]
    return concept


def _medication(res: dict, catalog: Catalog, zone: str, medications: dict) -> Item:
    concept = _medication_concept(res, medications)
    item = Item(MEDICATIONS, ref_of(res), _name(concept, "Medication"))
    status = res.get("status", "")
    if status == "entered-in-error":
        item.skip = ENTERED_IN_ERROR
        return item
    if status in ("not-taken", "draft"):
        item.skip = NOT_TAKEN
        return item
    medication, rest = catalog.medication(concept)
    if medication is None:
        item.skip = NOT_IN_CATALOG
        return item
    if res.get("resourceType") == "MedicationRequest":
        dosages = res.get("dosageInstruction") or []
        started = res.get("authoredOn")
    else:
        dosages = res.get("dosage") or []
        started = (
            res.get("effectiveDateTime")
            or (res.get("effectivePeriod") or {}).get("start")
            or res.get("dateAsserted")
        )
    dosage = (
        next((str(d["text"]).strip() for d in dosages if isinstance(d, dict) and d.get("text")), "") or rest
    )
    item.rows = [
        {
            "medication": medication,
            "dosage": dosage[:200],
            "since": _not_future(as_date(started, zone), zone),
            "status": "resolved" if status in ("completed", "stopped", "cancelled") else "active",
            "note": _notes(res),
        }
    ]
    return item


def _immunization(res: dict, catalog: Catalog, zone: str, _meds) -> Item:
    concept = res.get("vaccineCode")
    item = Item(IMMUNIZATIONS, ref_of(res), _name(concept, "Immunization"))
    status = res.get("status", "")
    if status == "entered-in-error":
        item.skip = ENTERED_IN_ERROR
        return item
    if status == "not-done":
        item.skip = NOT_DONE
        return item
    vaccine = catalog.vaccine(concept)
    if vaccine is None:
        item.skip = NOT_IN_CATALOG
        return item
    given_on = _not_future(as_date(res.get("occurrenceDateTime") or res.get("occurrenceString"), zone), zone)
    if given_on is None:
        item.skip = NO_DATE
        return item
    dose = None
    for applied in res.get("protocolApplied") or []:
        number = applied.get("doseNumberPositiveInt") if isinstance(applied, dict) else None
        if number is None and isinstance(applied, dict):
            digits = re.match(r"\d+", str(applied.get("doseNumberString") or ""))
            number = int(digits[0]) if digits else None
        if isinstance(number, int) and 0 < number < 100:
            dose = number
            break
    item.rows = [
        {
            "vaccine": vaccine,
            "given_on": given_on,
            "dose": dose,
            "lot": str(res.get("lotNumber") or "")[:40],
            "note": _notes(res),
        }
    ]
    return item


def _loinc(concept) -> list[str]:
    codes = [c.code for c in codings(concept) if c.system == fhir.LOINC and c.code]
    return [fhir.SPO2 if code == fhir.SPO2_PROFILE else code for code in codes]


def _observation(res: dict, catalog: Catalog, zone: str, _meds) -> Item | None:
    kinds = catalog.vital_kinds()
    codes = _loinc(res.get("code"))
    parts = []  # (kind, valueQuantity)
    for component in res.get("component") or []:
        if not isinstance(component, dict):
            continue
        kind = next((kinds[c] for c in _loinc(component.get("code")) if c in kinds), None)
        if kind is not None:
            parts.append((kind, component.get("valueQuantity")))
    if not parts:
        kind = next((kinds[c] for c in codes if c in kinds), None)
        if kind is not None:
            parts.append((kind, res.get("valueQuantity")))
    vital_sign = any(
        c.code == "vital-signs" for category in res.get("category") or [] for c in codings(category)
    )
    if not parts and not vital_sign:
        return None  # a laboratory result or the like: not something the chart files as a vital sign
    item = Item(VITALS, ref_of(res), _name(res.get("code"), "Observation"))
    if not parts:
        item.skip = UNKNOWN_CODE
        return item
    status = res.get("status", "")
    if status in ("entered-in-error", "cancelled"):
        item.skip = ENTERED_IN_ERROR
        return item
    if status not in ("final", "amended", "corrected", "unknown", ""):
        item.skip = NOT_FINAL
        return item
    taken_at = (
        as_instant(res.get("effectiveDateTime"), zone)
        or as_instant((res.get("effectivePeriod") or {}).get("start"), zone)
        or as_instant(res.get("issued"), zone)
    )
    if taken_at is None or taken_at > timezones.now() + dt.timedelta(minutes=5):
        item.skip = NO_DATE
        return item
    rows = []
    for kind, quantity in parts:
        value, why = _reading(quantity, kind)
        if why:
            item.skip = why
            return item
        rows.append({"kind": kind, "value": value, "taken_at": taken_at})
    item.rows = rows
    return item
