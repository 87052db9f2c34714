"""Opening a patient's chart: ``GET /api/v1/clinics/{clinic_id}/patients/{patient_id}/chart`` (first page of the
timeline, 30 visits) as a doctor of the clinic, for patients who each have 1,000 committed visits there.

Three figures per round, each over the same patients in turn:

* the whole request, in this process through Django's test client (bearer token of a sign-in that passed the
  second factor; middleware, ``records.queries.chart``, ``records.schemas.chart_out``, JSON);
* the query and its serialisation alone (``queries.chart`` + ``schemas.chart_out`` called directly, as the search
  benchmark calls ``doctor_search``);
* the SQL alone: the SELECT statements one request sends, replayed as they were sent.

Target: p95 ≤ 150 ms for the whole request.

The data set (its own database, ``shifa_bench_chart`` or ``shifa_bench_chart_quick``) is generated on first use
and re-used afterwards (table ``bench_chart_dataset``):

* one clinic with its doctors, made as the booking data set makes them (``dataset._clinics``/``_doctors``);
* patients, each with 1,000 visits spread over the ten years before generation (distinct days, office hours,
  mostly with the patient's usual doctor), each visit with a complaint and notes (encrypted by the application),
  1 to 3 ICD-9-CM diagnoses, 0 to 3 prescription lines, sometimes lab or imaging orders, and in most visits blood
  pressure and heart rate (LOINC 8480-6, 8462-4, 8867-4); per patient a few allergies, chronic conditions,
  immunizations and one current medicine.

Visits are written uncommitted, their rows under them inserted, and then all committed in one UPDATE per patient
(the database refuses rows under a committed visit, and any change to a committed one). Everything goes in
through ``bulk_create`` (encrypted fields are encrypted on the way), with the audit trigger and every constraint
in force, in one transaction with the record of the data set.

Before measuring, each patient gets a booked appointment at the clinic (with its doctors in turn) within the next
hours when they have none within a day of now: the clinic is then caring for the patient (``records.policies``)
and sees the whole record, as when a chart is opened for a consultation.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from . import dataset
from .runtime import (
    append_section,
    dataset_figures,
    ensure_dataset,
    generation_step,
    log,
    machine,
    machine_line,
    measured,
    percentile,
    read_marker,
    rounded,
    samples_ms,
    table,
    verdict,
)

TARGET_P95_MS = 150.0
WARMUP = 30
PAGE = 30  # the endpoint's default page of the timeline
YEARS = 10
SEED = 20261126
#: The access token lives five minutes: a new one is issued (untimed) after this many seconds.
TOKEN_REFRESH_S = 180.0


@dataclass(frozen=True)
class Size:
    name: str
    patients: int
    visits: int  # per patient
    doctors: int

    def describe(self) -> str:
        return (
            f"1 clinic, {self.doctors} doctors, {self.patients:,} patients with {self.visits:,} visits each "
            f"({self.patients * self.visits:,} visits)"
        )


FULL = Size("full", patients=100, visits=1_000, doctors=4)
QUICK = Size("quick", patients=5, visits=1_000, doctors=4)

MARKER = """
CREATE TABLE IF NOT EXISTS bench_chart_dataset (
    id integer PRIMARY KEY CHECK (id = 1),
    size text NOT NULL,
    patients integer NOT NULL,
    visits_per_patient integer NOT NULL,
    doctors integer NOT NULL,
    clinic_id bigint NOT NULL,
    doctor_id bigint NOT NULL,
    patient_ids jsonb NOT NULL,
    anchor timestamptz NOT NULL,
    generation jsonb NOT NULL
)
"""
MARKER_COLUMNS = (
    "size",
    "patients",
    "visits_per_patient",
    "doctors",
    "clinic_id",
    "doctor_id",
    "patient_ids",
    "anchor",
    "generation",
)

# --- what the visits hold ------------------------------------------------------------------------------------------

#: (ICD-9-CM code as CMS writes it, weight, a complaint that goes with it, plain words for the patient)
DIAGNOSES = [
    ("4019", 8, "Follow-up of blood pressure; occasional morning headaches.", "High blood pressure"),
    ("25000", 7, "Diabetes review; tired, thirsty in the afternoons.", "Type 2 diabetes"),
    ("2724", 5, "Came for the results of the lipid profile.", "High cholesterol"),
    ("4659", 6, "Runny nose, sore throat and mild fever for three days.", "Common cold"),
    ("4660", 3, "Productive cough for a week, no shortness of breath.", "Chest infection (bronchitis)"),
    ("462", 4, "Sore throat and painful swallowing since yesterday.", "Sore throat"),
    ("7862", 3, "Dry cough at night for two weeks.", "Cough"),
    ("78900", 3, "Crampy abdominal pain after meals, no vomiting.", "Tummy pain"),
    ("7242", 4, "Lower back pain after lifting, worse when bending.", "Low back pain"),
    ("53081", 4, "Heartburn after dinner, worse lying down.", "Acid reflux"),
    ("4779", 3, "Sneezing and itchy eyes every spring.", "Hay fever"),
    ("5990", 3, "Burning on passing urine, going often.", "Urine infection"),
    ("30000", 2, "Worrying a lot, trouble sleeping.", "Anxiety"),
    ("49390", 3, "Wheezing at night, using the inhaler more often.", "Asthma"),
    ("3829", 2, "Ear pain since the weekend.", "Middle ear infection"),
    ("463", 2, "High fever and swollen tonsils.", "Tonsillitis"),
    ("27800", 2, "Wants advice on losing weight.", "Overweight"),
    ("2449", 2, "Thyroid check, feeling cold and tired.", "Underactive thyroid"),
    ("2859", 2, "Feeling weak, pale according to the family.", "Low blood count (anaemia)"),
    ("78060", 3, "Fever since last night, no other complaint.", "Fever"),
    ("7840", 3, "Headaches most afternoons for a month.", "Headache"),
    ("7295", 2, "Pain in the right leg after walking.", "Leg pain"),
    ("71590", 2, "Knee pain on stairs, stiffness in the morning.", "Wear and tear of the joints"),
]
CHRONIC = ["4019", "25000", "2724", "49390", "2449", "71590"]

#: (medication code, form, strength, dose, unit, frequency, timing, possible durations in days, None = ongoing)
MEDICINES = [
    ("amlodipine", "tablet", "5 mg", "1", "tablet", "once_daily", "", [30, 90, None]),
    ("metformin", "tablet", "500 mg", "1", "tablet", "twice_daily", "with_meals", [30, 90, None]),
    ("atorvastatin", "tablet", "20 mg", "1", "tablet", "at_bedtime", "", [30, 90]),
    ("losartan", "tablet", "50 mg", "1", "tablet", "once_daily", "", [30, 90, None]),
    ("bisoprolol", "tablet", "5 mg", "1", "tablet", "once_daily", "", [30, 90]),
    ("gliclazide", "tablet", "60 mg", "1", "tablet", "once_daily", "before_meals", [30, 90]),
    ("levothyroxine-sodium", "tablet", "50 mcg", "1", "tablet", "once_daily", "empty_stomach", [90, None]),
    ("amoxicillin", "capsule", "500 mg", "1", "capsule", "three_times_daily", "", [7, 10]),
    (
        "amoxicillin-clavulanic-acid",
        "tablet",
        "875 mg/125 mg",
        "1",
        "tablet",
        "twice_daily",
        "with_meals",
        [7],
    ),
    ("azithromycin", "tablet", "500 mg", "1", "tablet", "once_daily", "", [3, 5]),
    ("paracetamol", "tablet", "500 mg", "2", "tablet", "four_times_daily", "", [3, 5]),
    ("ibuprofen", "tablet", "400 mg", "1", "tablet", "three_times_daily", "after_meals", [5, 7]),
    ("diclofenac", "tablet", "50 mg", "1", "tablet", "twice_daily", "after_meals", [5, 7]),
    ("omeprazole", "capsule", "20 mg", "1", "capsule", "once_daily", "before_meals", [14, 30]),
    ("esomeprazole", "tablet", "40 mg", "1", "tablet", "once_daily", "before_meals", [14, 30]),
    ("cetirizine", "tablet", "10 mg", "1", "tablet", "at_bedtime", "", [7, 14, 30]),
    ("salbutamol", "inhaler", "100 mcg/dose", "2", "puff", "as_needed", "", [30, None]),
]
INSTRUCTIONS = [
    "",
    "",
    "Take with a full glass of water.",
    "Finish the whole course even if you feel better.",
    "Stop and call the clinic if a rash appears.",
    "Do not drive if it makes you drowsy.",
    "Keep taking it until the next visit; do not stop suddenly.",
    "Shake well before use; rinse the mouth after inhaling.",
]
NOTES = [
    "Alert and oriented, not in distress.",
    "Chest clear on both sides, heart sounds normal, no murmur.",
    "Throat red, tonsils slightly enlarged, no exudate.",
    "Abdomen soft, mild tenderness in the epigastrium, no guarding.",
    "Blood pressure reviewed against the home readings; readings mostly within target.",
    "Feet examined: pulses present, no ulcers, sensation intact.",
    "Advised on diet, salt intake and thirty minutes of walking a day.",
    "Explained the diagnosis and the warning signs to watch for.",
    "Review in two weeks, sooner if the fever returns or breathing gets harder.",
    "Results of last month's tests discussed with the patient.",
    "Medication adherence is good; no side effects reported.",
    "Referred for physiotherapy if no improvement in four weeks.",
]
LAB_TESTS = ["58410-2", "2345-7", "4548-4", "2160-0", "24323-8", "2093-3", "1742-6", "3016-3"]
IMAGING = ["xr-chest-pa", "xr-lumbar-spine", "us-abdomen"]
ORDER_NOTES = ["", "", "Fasting sample.", "Compare with the previous study.", "Please call with the result."]
#: (LOINC code, low, high) of the readings taken in a visit
VITALS = [("8480-6", 105, 160), ("8462-4", 65, 100), ("8867-4", 58, 104)]
ALLERGY_SUBSTANCES = [
    ("Penicillin", "Hives", "moderate"),
    ("Peanuts", "Swelling of the lips", "severe"),
    ("Latex", "Itchy rash", "mild"),
    ("Dust mites", "Sneezing", "mild"),
    ("Sulfonamides", "Rash", "moderate"),
]
VACCINES = ["influenza", "covid19", "tdap", "hepb", "pcv13"]


# --- the record of what the database holds ---------------------------------------------------------------------


def marker() -> dict | None:
    return read_marker(MARKER, "bench_chart_dataset", MARKER_COLUMNS, ("generation", "patient_ids"))


def ensure(size: Size) -> dict:
    """The chart data set of ``size`` in the benchmark database: re-used when it is there, generated otherwise."""
    from shifa.tenancy.models import Clinic

    return ensure_dataset(
        "chart",
        "chart",
        size,
        marker=marker,
        generate=generate,
        describe=describe,
        held=lambda f: (f["patients"], f["visits_per_patient"], f["doctors"]),
        wanted=(size.patients, size.visits, size.doctors),
        held_text=lambda f: f"{f['patients']} patients with {f['visits_per_patient']} visits",
        occupied=lambda: Clinic.objects.filter(slug__startswith=dataset.SLUG_PREFIX).exists(),
        occupant="benchmark clinics",
    )


def describe(found: dict) -> str:
    """One line on the data set for RESULTS.md."""
    rows = found["generation"]["rows"]
    return (
        f"Data: {found['size']} chart set, 1 clinic, {found['doctors']} doctors, {found['patients']:,} patients "
        f"with {found['visits_per_patient']:,} committed visits each over {YEARS} years "
        f"({rows['visits']:,} visits, {rows['diagnoses']:,} diagnoses, {rows['prescriptions']:,} prescription "
        f"lines, {rows['orders']:,} orders, {rows['vitals']:,} vital readings, {rows['allergies']:,} allergies, "
        f"{rows['conditions']:,} conditions, {rows['immunizations']:,} immunizations); "
        f"generated at {found['anchor']:%Y-%m-%d %H:%M} UTC in {found['generation']['total_s']:.0f} s"
        + ("; re-used." if found.get("reused") else ".")
    )


def figures(found: dict) -> dict:
    return dataset_figures(found, "patients", "visits_per_patient", "doctors")


# --- generation ---------------------------------------------------------------------------------------------------


@dataclass
class Catalog:
    diagnoses: dict[str, int]
    medications: dict[str, int]
    lab_tests: dict[str, int]
    imaging: dict[str, int]
    vitals: dict[str, int]
    vaccines: dict[str, int]


def _catalog() -> Catalog:
    from shifa.catalog.models import Diagnosis, ImagingStudy, LabTest, Medication, Vaccine, VitalSignType

    def pks(model, field: str, codes: list[str]) -> dict[str, int]:
        found = dict(model.objects.filter(**{f"{field}__in": codes}).values_list(field, "pk"))
        missing = sorted(set(codes) - set(found))
        if missing:
            raise RuntimeError(f"{model._meta.label} lacks {missing}: is the reference data loaded?")
        return found

    return Catalog(
        diagnoses=pks(Diagnosis, "code", [code for code, *_ in DIAGNOSES]),
        medications=pks(Medication, "code", [m[0] for m in MEDICINES] + ["acetylsalicylic-acid"]),
        lab_tests=pks(LabTest, "code", LAB_TESTS),
        imaging=pks(ImagingStudy, "code", IMAGING),
        vitals=pks(VitalSignType, "code", [code for code, _low, _high in VITALS]),
        vaccines=pks(Vaccine, "code", VACCINES),
    )


def generate(size: Size) -> dict:
    """Write the whole chart data set in one transaction; the timings of its steps."""
    from shifa.access import catalog as access_catalog
    from shifa.access.models import Role
    from shifa.catalog.actions import reference_data_ensure
    from shifa.catalog.models import InsuranceCompany, Specialty
    from shifa.core import keys
    from shifa.tenancy.models import Plan

    rng = random.Random(SEED)
    anchor = timezone.now().replace(microsecond=0)
    steps: list[list] = []
    rows = dict.fromkeys(
        (
            "visits",
            "diagnoses",
            "prescriptions",
            "orders",
            "vitals",
            "allergies",
            "conditions",
            "medications",
            "immunizations",
        ),
        0,
    )
    started = time.perf_counter()
    # The data key, unwrapped once before the transaction (inside it, a key found is remembered only at commit).
    keys.keyring.active()
    with transaction.atomic():
        with generation_step(steps, "reference data"):
            reference_data_ensure()
            specialties = list(
                Specialty.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
            )
            insurers = list(
                InsuranceCompany.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
            )
            doctor_role = Role.objects.get(code=access_catalog.DOCTOR).pk
            plan, _created = Plan.objects.get_or_create(
                code="bench",
                defaults={
                    "name_en": "Benchmark",
                    "name_ar": "قياس الأداء",
                    "price": Decimal("25.000"),
                    "period": "yearly",
                    "seats": 50,
                },
            )
            codes = _catalog()
        with generation_step(steps, "clinic and doctors"):
            layout = dataset.Size(
                "chart", clinics=1, doctors=size.doctors, appointments=0, patients=size.patients
            )
            clinics = dataset._clinics(rng, layout, anchor, plan.pk, insurers)
            doctors = [d.pk for d in dataset._doctors(rng, layout, clinics, doctor_role, specialties)]
            clinic = clinics[0]
        with generation_step(steps, "patients"):
            patients = _patients(rng, size)
        with generation_step(
            steps, f"visits and their rows ({size.patients} patients, {size.visits:,} visits each)"
        ):
            for number, patient in enumerate(patients, 1):
                counts = _patient_record(rng, size, clinic.pk, doctors, patient, codes, anchor)
                for key, value in counts.items():
                    rows[key] += value
                if number % max(1, len(patients) // 10) == 0 or number == len(patients):
                    log(f"    {number}/{len(patients)} patients, {rows['visits']:,} visits")
        generation = {"steps_s": steps, "seed": SEED, "rows": rows}
        _mark(size, clinic.pk, doctors[0], patients, anchor, generation)
    with generation_step(steps, "vacuum analyze"):
        _vacuum()
    generation["total_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bench_chart_dataset SET generation = %s WHERE id = 1", [json.dumps(generation)]
        )
    log(f"  chart data set written in {generation['total_s']} s")
    return generation


def _mark(size: Size, clinic_pk: int, doctor_pk: int, patients: list[int], anchor, generation) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_chart_dataset (id, size, patients, visits_per_patient, doctors, clinic_id, "
            "doctor_id, patient_ids, anchor, generation) VALUES (1, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                size.name,
                size.patients,
                size.visits,
                size.doctors,
                clinic_pk,
                doctor_pk,
                json.dumps(patients),
                anchor,
                json.dumps(generation | {"total_s": 0}),
            ],
        )


def _vacuum() -> None:
    from shifa.audit.models import AuditEvent
    from shifa.records.models import (
        Allergy,
        Condition,
        Immunization,
        MedicationStatement,
        Order,
        Patient,
        Prescription,
        Visit,
        VisitDiagnosis,
        Vital,
    )
    from shifa.scheduling.models import Appointment

    models = [
        Patient,
        Visit,
        VisitDiagnosis,
        Prescription,
        Order,
        Vital,
        Allergy,
        Condition,
        MedicationStatement,
        Immunization,
        Appointment,
        AuditEvent,
    ]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def _patients(rng: random.Random, size: Size) -> list[int]:
    from shifa.records.actions import national_id_index
    from shifa.records.models import Patient

    made = []
    for _ in range(size.patients):
        sex = rng.choice(["female", "male"])
        national = f"9{rng.randrange(10**8, 10**9):09d}"
        made.append(
            Patient(
                full_name=f"{rng.choice(dataset.FIRST_NAMES[sex])} {rng.choice(dataset.FAMILY_NAMES)}",
                sex=sex,
                date_of_birth=dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(0, 20_000)),
                phone=f"+96279{rng.randrange(10**6, 10**7)}",
                national_id=national,
                national_id_index=national_id_index(national),
                blood_group=rng.choice(["A+", "O+", "B+", "AB+", "O-", ""]),
            )
        )
    return [p.pk for p in Patient.objects.bulk_create(made, batch_size=1000)]


def _visit_times(rng: random.Random, size: Size, anchor: dt.datetime) -> list[dt.datetime]:
    """``size.visits`` consultations on distinct days of the ten years before ``anchor``, in office hours."""
    zone = ZoneInfo(dataset.ZONE)
    today = anchor.astimezone(zone).date()
    days = rng.sample(range(1, YEARS * 365 + 1), size.visits)
    times = []
    for back in sorted(days, reverse=True):
        day = today - dt.timedelta(days=back)
        minute = rng.randrange(9 * 60, 17 * 60, 5)
        local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone)
        times.append(local.astimezone(dt.UTC))
    return times


def _patient_record(
    rng: random.Random,
    size: Size,
    clinic: int,
    doctors: list[int],
    patient: int,
    codes: Catalog,
    anchor: dt.datetime,
) -> dict[str, int]:
    """One patient's visits (committed at the end) with their diagnoses, prescriptions, orders and vitals, and
    the patient's standing facts."""
    from shifa.records.models import (
        Allergy,
        Condition,
        Immunization,
        MedicationStatement,
        Order,
        Prescription,
        Visit,
        VisitDiagnosis,
        Vital,
    )

    usual = rng.choice(doctors)
    chronic = rng.sample(CHRONIC, rng.randint(1, 3))
    weights = [w * (6 if code in chronic else 1) for code, w, _c, _p in DIAGNOSES]
    visits, plans = [], []
    for started_at in _visit_times(rng, size, anchor):
        chosen = []
        while len(chosen) < rng.choice([1, 1, 2, 2, 3]):
            pick = rng.choices(DIAGNOSES, weights)[0]
            if pick not in chosen:
                chosen.append(pick)
        doctor = usual if rng.random() < 0.7 else rng.choice(doctors)
        notes = " ".join(rng.sample(NOTES, rng.randint(2, 4)))
        visits.append(
            Visit(
                clinic_id=clinic,
                patient_id=patient,
                doctor_id=doctor,
                created_by_id=doctor,
                origin="walk_in",
                started_at=started_at,
                complaint=chosen[0][2],
                notes=notes,
            )
        )
        plans.append(chosen)
    Visit.unscoped.bulk_create(visits, batch_size=1000)

    diagnoses, lines, orders, vitals = [], [], [], []
    for visit, chosen in zip(visits, plans, strict=True):
        common = {"clinic_id": clinic, "visit_id": visit.pk}
        for position, (code, _w, _complaint, plain) in enumerate(chosen):
            diagnoses.append(
                VisitDiagnosis(
                    **common,
                    diagnosis_id=codes.diagnoses[code],
                    rank="primary" if position == 0 else "secondary",
                    plain_words=plain if rng.random() < 0.4 else "",
                    position=position,
                )
            )
        for position, medicine in enumerate(rng.sample(MEDICINES, rng.choice([0, 1, 1, 2, 2, 3]))):
            code, form, strength, dose, unit, frequency, timing, durations = medicine
            lines.append(
                Prescription(
                    **common,
                    medication_id=codes.medications[code],
                    form=form,
                    strength=strength,
                    dose=Decimal(dose),
                    dose_unit=unit,
                    route="inhaled" if form == "inhaler" else "oral",
                    frequency=frequency,
                    timing=timing,
                    duration_days=rng.choice(durations),
                    instructions=rng.choice(INSTRUCTIONS),
                    position=position,
                )
            )
        if rng.random() < 0.25:
            for _ in range(rng.choice([1, 1, 2])):
                imaging = rng.random() < 0.15
                orders.append(
                    Order(
                        **common,
                        kind="imaging" if imaging else "lab",
                        imaging_id=codes.imaging[rng.choice(IMAGING)] if imaging else None,
                        lab_test_id=None if imaging else codes.lab_tests[rng.choice(LAB_TESTS)],
                        urgency="urgent" if rng.random() < 0.1 else "routine",
                        note=rng.choice(ORDER_NOTES),
                    )
                )
        if rng.random() < 0.6:
            taken_at = visit.started_at + dt.timedelta(minutes=5)
            for code, low, high in VITALS:
                vitals.append(
                    Vital(
                        **common,
                        patient_id=patient,
                        kind_id=codes.vitals[code],
                        value=Decimal(rng.randint(low, high)),
                        taken_at=taken_at,
                        recorded_by_id=visit.doctor_id,
                    )
                )
    VisitDiagnosis.unscoped.bulk_create(diagnoses, batch_size=2000)
    Prescription.unscoped.bulk_create(lines, batch_size=2000)
    Order.unscoped.bulk_create(orders, batch_size=2000)
    Vital.unscoped.bulk_create(vitals, batch_size=2000)
    # Committed in one statement (the time of commitment with it); created and updated when they happened.
    finished = dt.timedelta(minutes=rng.choice([20, 25, 30]))
    Visit.unscoped.filter(patient_id=patient, is_committed=False).update(
        is_committed=True,
        committed_at=F("started_at") + finished,
        committed_by=F("doctor"),
        created_at=F("started_at"),
        updated_at=F("started_at") + finished,
    )

    facts = {"clinic_id": clinic, "patient_id": patient, "recorded_by_id": usual}
    first_day = visits[0].started_at.date()
    allergies = [
        Allergy(
            **facts,
            substance=substance,
            reaction=reaction,
            severity=severity,
            note="Reported by the patient.",
        )
        for substance, reaction, severity in rng.sample(ALLERGY_SUBSTANCES, rng.randint(1, 3))
    ]
    conditions = [
        Condition(
            **facts,
            diagnosis_id=codes.diagnoses[code],
            since=first_day + dt.timedelta(days=rng.randrange(0, 2000)),
            note=rng.choice(["", "Controlled on treatment.", "Diet and exercise first."]),
        )
        for code in chronic
    ]
    immunizations = [
        Immunization(
            **facts,
            vaccine_id=codes.vaccines[code],
            dose=rng.randint(1, 3),
            given_on=first_day + dt.timedelta(days=rng.randrange(0, YEARS * 365 - 30)),
            lot=f"L{rng.randrange(10**5, 10**6)}",
        )
        for code in rng.sample(VACCINES, rng.randint(2, 5))
    ]
    statements = [
        MedicationStatement(
            **facts,
            medication_id=codes.medications["acetylsalicylic-acid"],
            dosage="81 mg once a day",
            since=first_day,
            note="Prescribed by a cardiologist abroad.",
        )
    ]
    Allergy.unscoped.bulk_create(allergies)
    Condition.unscoped.bulk_create(conditions)
    Immunization.unscoped.bulk_create(immunizations)
    MedicationStatement.unscoped.bulk_create(statements)
    return {
        "visits": len(visits),
        "diagnoses": len(diagnoses),
        "prescriptions": len(lines),
        "orders": len(orders),
        "vitals": len(vitals),
        "allergies": len(allergies),
        "conditions": len(conditions),
        "medications": len(statements),
        "immunizations": len(immunizations),
    }


# --- the encounter that makes the doctor the patient's doctor today -------------------------------------------


def _encounters(clinic, patients: list[int]) -> int:
    """A booked office appointment at the clinic within the next hours for every patient without one within a
    day of now (``policies.has_encounter``), with the clinic's doctors in turn; how many were booked."""
    from shifa.access import catalog as access_catalog
    from shifa.core import timezones
    from shifa.directory.models import Service
    from shifa.records.policies import ENCOUNTER_WINDOW
    from shifa.scheduling.models import OCCUPYING, Appointment, AppointmentStatus
    from shifa.tenancy.models import Membership

    now = timezones.now()
    margin = dt.timedelta(hours=2)
    covered = set(
        Appointment.unscoped.filter(
            clinic=clinic,
            patient_id__in=patients,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN],
            starts_at__gte=now - ENCOUNTER_WINDOW + margin,
            starts_at__lte=now + ENCOUNTER_WINDOW - margin,
        ).values_list("patient_id", flat=True)
    )
    missing = [p for p in patients if p not in covered]
    if not missing:
        return 0
    step = dt.timedelta(minutes=15)
    doctors = list(
        Membership.objects.for_clinic(clinic)
        .filter(role__code=access_catalog.DOCTOR, is_active=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    following: dict[
        int, dt.datetime
    ] = {}  # each doctor's next free start, after what they already have booked
    for doctor in doctors:
        latest = (
            Appointment.unscoped.filter(doctor_id=doctor, status__in=OCCUPYING, ends_at__gt=now)
            .order_by("-ends_at")
            .values_list("ends_at", flat=True)
            .first()
        )
        following[doctor] = max(latest or now, now).replace(second=0, microsecond=0) + step
    service = Service.objects.for_clinic(clinic).filter(is_active=True).order_by("pk").first()
    booked = []
    for index, patient in enumerate(missing):
        doctor = doctors[index % len(doctors)]
        starts = following[doctor]
        if starts + step > now + ENCOUNTER_WINDOW - margin:
            raise RuntimeError(
                "the doctors' calendars of the next day are too full for the encounter appointments"
            )
        following[doctor] = starts + step
        booked.append(
            Appointment(
                clinic=clinic,
                doctor_id=doctor,
                patient_id=patient,
                service=service,
                visit_type="office",
                starts_at=starts,
                ends_at=starts + step,
                status=AppointmentStatus.BOOKED,
                channel="desk",
            )
        )
    Appointment.unscoped.bulk_create(booked)
    return len(booked)


# --- measuring ----------------------------------------------------------------------------------------------------


def _is_read(sql: str) -> bool:
    """A plain SELECT: not a locking one, nor the audit context set in front of a write (``SELECT set_config(…);
    INSERT …``)."""
    text = sql.lstrip().upper()
    return (
        text.startswith("SELECT")
        and ";" not in text
        and " FOR UPDATE" not in text
        and " FOR SHARE" not in text
    )


def _label(sql: str) -> str:
    """A short name for a statement: the table it reads first and the start of its conditions."""
    text = " ".join(sql.replace('"', "").split())
    table_name = text.split(" FROM ", 1)[1].split(" ", 1)[0] if " FROM " in text else text[:40]
    where = text.split(" WHERE ", 1)[1] if " WHERE " in text else ""
    return f"{table_name} WHERE {where[:80]}…" if where else table_name


def run(size: Size, rounds: int) -> dict:
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from shifa.access.policies import Actor, clinic_roles
    from shifa.accounts.actions import token_pair_issue
    from shifa.accounts.models import User
    from shifa.records import queries, schemas
    from shifa.records.models import Patient
    from shifa.tenancy.models import Clinic

    found = ensure(size)
    clinic = Clinic.objects.get(pk=found["clinic_id"])
    doctor = User.objects.get(pk=found["doctor_id"])
    patient_ids = found["patient_ids"]
    booked = _encounters(clinic, patient_ids)
    if booked:
        log(f"booked an appointment at the clinic in the coming hours for {booked} patients")
    externals = dict(Patient.objects.filter(pk__in=patient_ids).values_list("pk", "external_id"))
    patients = [externals[pk] for pk in patient_ids]
    paths = [f"/api/v1/clinics/{clinic.external_id}/patients/{p}/chart" for p in patients]

    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    issued = {"at": 0.0}

    def sign_in() -> None:
        """A new access token of a sign-in that passed the second factor (they live five minutes)."""
        token = token_pair_issue(user=doctor, mfa=True)["access_token"]
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        issued["at"] = time.monotonic()

    def fresh(call):
        if time.monotonic() - issued["at"] > TOKEN_REFRESH_S:
            sign_in()
        return call

    def get(path: str):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
        return response

    sign_in()
    # every chart opens, with a full first page, the patient's whole record shared with the doctor
    sample = get(paths[0]).json()
    shared_all = True
    visits_on_page = []
    for path in paths:
        body = get(path).json()
        shared_all &= body["shared"]
        visits_on_page.append(len(body["visits"]["items"]))
    if min(visits_on_page) != PAGE or not sample["visits"]["next_cursor"]:
        raise RuntimeError(f"expected a full page of {PAGE} visits and more, got {visits_on_page}")
    response_kib = len(get(paths[0]).content) / 1024

    # the SQL of one request per patient: the statements to replay, and the count
    replays: list[list[str]] = []
    query_counts: list[int] = []
    writes: list[int] = []
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            get(path)
        sql = [q["sql"] for q in captured.captured_queries]
        query_counts.append(len(sql))
        replays.append([s for s in sql if _is_read(s)])
        writes.append(len(sql) - len(replays[-1]))

    actor = Actor(user=doctor, clinic=clinic, roles=clinic_roles(doctor, clinic))

    def direct(patient) -> dict:
        return schemas.chart_out(queries.chart(actor=actor, patient_id=patient), "en")

    statement_ms: dict[tuple[int, int], list[float]] = {}

    def by_sql(index: int) -> None:
        with connection.cursor() as cursor:
            for number, statement in enumerate(replays[index]):
                start = time.perf_counter()
                cursor.execute(statement)
                cursor.fetchall()
                statement_ms.setdefault((index, number), []).append((time.perf_counter() - start) * 1000)

    order = [i % len(paths) for i in range(WARMUP + rounds)]
    host = machine()
    http_ms = samples_ms((fresh(lambda i=i: get(paths[i])) for i in order), warmup=WARMUP)
    direct_ms = samples_ms([lambda i=i: direct(patients[i]) for i in order], warmup=WARMUP)
    statement_ms.clear()
    sql_ms = samples_ms([lambda i=i: by_sql(i) for i in order], warmup=WARMUP)
    host = measured(host)

    # the slowest statements: median of each statement over every patient's replays (the same statements in
    # the same order for every patient), else over the first patient's
    same_shape = len({len(r) for r in replays}) == 1
    by_position: dict[int, list[float]] = {}
    for (index, number), times in statement_ms.items():
        if same_shape or index == 0:
            by_position.setdefault(number, []).extend(times)
    per_statement = sorted(
        ((statistics.median(t), number) for number, t in by_position.items()), reverse=True
    )
    slowest = [
        {"ms": rounded(ms, 3), "statement": _label(replays[0][number])} for ms, number in per_statement[:5]
    ]
    p50, p95 = percentile(http_ms, 50), percentile(http_ms, 95)
    chart_figures = {
        "p50_ms": rounded(p50),
        "p95_ms": rounded(p95),
        "direct_p50_ms": rounded(percentile(direct_ms, 50)),
        "direct_p95_ms": rounded(percentile(direct_ms, 95)),
        "sql_p50_ms": rounded(percentile(sql_ms, 50)),
        "sql_p95_ms": rounded(percentile(sql_ms, 95)),
        "queries_per_request": max(query_counts),
        "selects_per_request": max(len(r) for r in replays),
        "writes_per_request": max(writes),
        "rounds": rounds,
        "patients": len(paths),
        "visits_per_patient": found["visits_per_patient"],
        "visits_on_page": PAGE,
        "response_kib": rounded(response_kib, 1),
        "shared": shared_all,
        "current_prescriptions": len(sample["current_prescriptions"]),
        "latest_vitals": len(sample["latest_vitals"]),
        "slowest_statements": slowest,
        "target_p95_ms": TARGET_P95_MS,
        "target_met": p95 <= TARGET_P95_MS,
    }
    append_section(
        f"chart ({size.name} data set)",
        [
            machine_line(host),
            describe(found),
            "",
            f"{rounds} requests `GET /api/v1/clinics/{{clinic_id}}/patients/{{patient_id}}/chart` (first page of "
            f"{PAGE} visits) as a doctor of the clinic, bearer token that passed the second factor, in-process "
            f"through Django's test client, over the {len(paths)} patients in turn ({WARMUP} untimed first); then "
            f"the same charts through `records.queries.chart` + `records.schemas.chart_out` called directly, "
            f"then the SELECT statements of one request replayed. Each request: "
            f"{chart_figures['queries_per_request']} SQL queries ({chart_figures['selects_per_request']} reads, "
            f"{chart_figures['writes_per_request']} write{'' if chart_figures['writes_per_request'] == 1 else 's'}: "
            f"the read log), a "
            f"{chart_figures['response_kib']} KiB answer; shared record: {shared_all}.",
            "",
            *table(
                [
                    ("p50", f"{p50:.2f} ms", ""),
                    ("p95", f"{p95:.2f} ms", f"≤ {TARGET_P95_MS:g} ms: {verdict(p95 <= TARGET_P95_MS)}"),
                    ("query + serialisation p50", f"{chart_figures['direct_p50_ms']:.2f} ms", ""),
                    ("query + serialisation p95", f"{chart_figures['direct_p95_ms']:.2f} ms", ""),
                    ("SQL p50", f"{chart_figures['sql_p50_ms']:.2f} ms", ""),
                    ("SQL p95", f"{chart_figures['sql_p95_ms']:.2f} ms", ""),
                ]
            ),
            "",
            "Slowest statements (median of their replays, executed and fetched, no models made): "
            + "; ".join(f"{s['ms']} ms `{s['statement']}`" for s in slowest[:3])
            + ".",
        ],
    )
    return {
        "p50_ms": chart_figures["p50_ms"],
        "p95_ms": chart_figures["p95_ms"],
        "chart": chart_figures,
        "dataset": figures(found),
        "machine": host,
    }
