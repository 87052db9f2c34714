"""Roles and permissions as code; ``sync_catalog`` writes them to the database on every migrate.

For each role: the permissions it may hold (the platform's limit) and whether each is on by default.
A clinic admin can switch a permission off or on for a role in their clinic, but only within this limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

PLATFORM_ADMIN = "platform_admin"
GENERAL_ADMIN = "general_admin"
CLINIC_ADMIN = "clinic_admin"
SECRETARY = "secretary"
ASSISTANT_DOCTOR = "assistant_doctor"
NURSE = "nurse"
DOCTOR = "doctor"
PATIENT = "patient"

STAFF_ROLES = (GENERAL_ADMIN, CLINIC_ADMIN, SECRETARY, ASSISTANT_DOCTOR, NURSE, DOCTOR)
ALL_ROLES = (PLATFORM_ADMIN, *STAFF_ROLES, PATIENT)


@dataclass(frozen=True)
class RoleSpec:
    code: str
    kind: str
    name_en: str
    name_ar: str


ROLES = [
    RoleSpec(PLATFORM_ADMIN, "platform", "Platform super admin", "مدير المنصة"),
    RoleSpec(GENERAL_ADMIN, "staff", "General admin", "المدير العام"),
    RoleSpec(CLINIC_ADMIN, "staff", "Clinic admin", "مدير العيادة"),
    RoleSpec(SECRETARY, "staff", "Secretary", "السكرتير"),
    RoleSpec(ASSISTANT_DOCTOR, "staff", "Assistant doctor", "مساعد الطبيب"),
    RoleSpec(NURSE, "staff", "Nurse", "الممرض"),
    RoleSpec(DOCTOR, "staff", "Doctor", "الطبيب"),
    RoleSpec(PATIENT, "patient", "Patient", "المريض"),
]


@dataclass(frozen=True)
class PermissionSpec:
    codename: str
    scope: str  # user | clinic | platform
    description: str


PERMISSIONS = [
    PermissionSpec("accounts.view_self", "user", _("See one's own account")),
    PermissionSpec("accounts.manage_own_tokens", "user", _("Sign out of the API (revoke one's own token)")),
    PermissionSpec(
        "accounts.manage_security", "user", _("Manage one's own sign-in methods and authenticator app")
    ),
    PermissionSpec(
        "notifications.manage_own", "user", _("Read one's notifications and choose how to be notified")
    ),
    PermissionSpec("patient.use_app", "user", _("Use the patient app")),
    PermissionSpec("clinic.use_console", "user", _("Open the clinic console")),
    PermissionSpec("tenancy.view_clinic", "clinic", _("See the clinic's profile")),
    PermissionSpec("tenancy.view_members", "clinic", _("See the clinic's staff")),
    PermissionSpec("tenancy.manage_invitations", "clinic", _("Invite staff to the clinic")),
    PermissionSpec("tenancy.manage_members", "clinic", _("Change staff roles and switch memberships off")),
    PermissionSpec(
        "clinic.configure",
        "clinic",
        _("Change the clinic's configuration: hours, closures, services, prices, areas"),
    ),
    PermissionSpec("appointments.book", "user", _("Book, move and cancel one's own appointments")),
    PermissionSpec("scheduling.view_appointments", "clinic", _("See the clinic's appointments and calendar")),
    PermissionSpec(
        "scheduling.manage_appointments",
        "clinic",
        _("Book, move, check in and cancel appointments at the desk"),
    ),
    PermissionSpec("records.view_chart", "clinic", _("Read patients' clinical records")),
    PermissionSpec("records.record_vitals", "clinic", _("Open visits, take vital signs and triage")),
    PermissionSpec(
        "records.record_history",
        "clinic",
        _("Record allergies, chronic conditions, current medicines and immunizations"),
    ),
    PermissionSpec(
        "records.document_visit",
        "clinic",
        _("Write visits: complaint, notes, diagnoses, prescriptions, orders, referrals, sick leave"),
    ),
    PermissionSpec("records.commit_visit", "clinic", _("Commit visits and amend committed ones")),
    PermissionSpec("records.record_results", "clinic", _("Attach results to lab and imaging orders")),
    PermissionSpec(
        "records.view_own",
        "user",
        _("See one's own record and one's dependants', who read it, and with whom it is shared"),
    ),
    PermissionSpec(
        "records.manage_own",
        "user",
        _("Add dependants and share one's record with clinics or stop sharing it"),
    ),
    PermissionSpec(
        "adherence.manage_own_doses",
        "user",
        _("See one's (and one's dependants') medication reminders and mark doses taken or skipped"),
    ),
    PermissionSpec(
        "adherence.record_own_vitals",
        "user",
        _("Record one's (and one's dependants') vital signs at home and register one's devices"),
    ),
    PermissionSpec(
        "careplans.follow_own",
        "user",
        _("See one's (and one's dependants') care plans, book their appointments and mark tasks done"),
    ),
    PermissionSpec(
        "careplans.manage",
        "clinic",
        _("Make care plans for patients, stop them, and keep the clinic's care plan templates"),
    ),
    PermissionSpec(
        "telehealth.use_own",
        "user",
        _("Join one's (and one's dependants') video visits and ask for urgent video care"),
    ),
    PermissionSpec(
        "telehealth.consult",
        "clinic",
        _("Lead one's video visits: admit the patient, invite a guest, end the call"),
    ),
    PermissionSpec(
        "telehealth.urgent_care", "clinic", _("Go on duty for urgent video requests and accept them")
    ),
    PermissionSpec(
        "messaging.use_own", "user", _("Write to the care teams of one's (and one's dependants') clinics")
    ),
    PermissionSpec("messaging.care_team", "clinic", _("Read and answer patients' messages to the clinic")),
    PermissionSpec("billing.pay_own", "user", _("Pay one's (and one's dependants') invoices online")),
    PermissionSpec("billing.refund_online", "clinic", _("Give back online payments to the patient's card")),
    PermissionSpec("billing.view", "clinic", _("See the clinic's invoices, payments and receipts")),
    PermissionSpec("billing.desk", "clinic", _("Open invoices and take cash and card payments at the desk")),
    PermissionSpec("billing.adjust", "clinic", _("Give discounts on invoices and refunds at the desk")),
    PermissionSpec("billing.view_own", "user", _("See one's (and one's dependants') invoices and receipts")),
    PermissionSpec("billing.revenue", "platform", _("See the clinics' revenue by month")),
    PermissionSpec(
        "billing.claims",
        "clinic",
        _("Apply patients' insurance to invoices, record insurers' pre-approvals, prepare and track claims"),
    ),
    PermissionSpec(
        "family.use_own",
        "user",
        _("Choose a family doctor (with a subscription that includes one) and end it"),
    ),
    PermissionSpec(
        "family.care", "clinic", _("Accept or decline patients' requests to be their family doctor; see them")
    ),
    PermissionSpec("catalog.view", "user", _("Look up reference data (diagnosis codes and the like)")),
    PermissionSpec(
        "subscriptions.manage_own",
        "user",
        _("See one's subscription, subscribe to a plan and switch its renewal off or on"),
    ),
    PermissionSpec("documents.view", "clinic", _("See and download the clinic's documents")),
    PermissionSpec("documents.create", "clinic", _("Prepare documents (letters) for the clinic")),
    PermissionSpec("access.view_roles", "clinic", _("See the clinic's roles and their permissions")),
    PermissionSpec("access.manage_roles", "clinic", _("Adjust the permissions of the clinic's roles")),
    PermissionSpec(
        "hakeem.view_sync",
        "clinic",
        _("See whether the clinic's records reached Hakeem, the national health record"),
    ),
    PermissionSpec(
        "hakeem.import_history",
        "clinic",
        _("Import a patient's history from Hakeem, with the patient's consent"),
    ),
    PermissionSpec(
        "hakeem.monitor",
        "platform",
        _("See what the clinics send to Hakeem, why it failed, and send it again"),
    ),
    PermissionSpec("platform.use_console", "platform", _("Open the platform console")),
    PermissionSpec("platform.view_clinics", "platform", _("See every clinic")),
    PermissionSpec("platform.view_audit", "platform", _("Search the audit log")),
    PermissionSpec(
        "platform.moderate_ratings", "platform", _("Review patients' ratings before they are shown")
    ),
    PermissionSpec(
        "platform.manage_clinics",
        "platform",
        _("Review clinic applications, issue, suspend and renew licences, set plans"),
    ),
    PermissionSpec(
        "platform.manage_reference",
        "platform",
        _("Edit reference data: diagnosis codes, medications, vaccines, vital signs, tests, insurers"),
    ),
    PermissionSpec(
        "platform.manage_subscription_plans",
        "platform",
        _("Define patients' subscription plans and see how many subscribe"),
    ),
]

#: User-scoped permissions that open staff work and so, like every clinic and platform permission, need a
#: sign-in that passed the second factor (ID-6).
STAFF_USER_PERMISSIONS = frozenset({"clinic.use_console"})


def needs_second_factor(codename: str, scope: str) -> bool:
    return scope in {"clinic", "platform"} or codename in STAFF_USER_PERMISSIONS


#: Held by every signed-in account whatever its roles (someone invited but not yet placed can still see
#: themselves and sign out).
BASELINE_PERMISSIONS = frozenset(
    {
        "accounts.view_self",
        "accounts.manage_own_tokens",
        "accounts.manage_security",
        "notifications.manage_own",
    }
)
_EVERY_SIGNED_IN = dict.fromkeys(sorted(BASELINE_PERMISSIONS), True)
_EVERY_STAFF = {
    **_EVERY_SIGNED_IN,
    "clinic.use_console": True,
    "tenancy.view_clinic": True,
    "documents.view": True,
    "documents.create": True,
    "catalog.view": True,
    "scheduling.view_appointments": True,
    "scheduling.manage_appointments": False,
}

#: role → {permission: granted_by_default}. A permission absent from a role is beyond the platform's limit.
ROLE_PERMISSIONS: dict[str, dict[str, bool]] = {
    PLATFORM_ADMIN: {
        **_EVERY_SIGNED_IN,
        "platform.use_console": True,
        "catalog.view": True,
        "platform.view_clinics": True,
        "platform.view_audit": True,
        "platform.moderate_ratings": True,
        "platform.manage_clinics": True,
        "platform.manage_reference": True,
        "platform.manage_subscription_plans": True,
        "billing.revenue": True,
        "hakeem.monitor": True,
    },
    GENERAL_ADMIN: {
        "hakeem.view_sync": True,
        **_EVERY_STAFF,
        "billing.claims": True,
        "billing.refund_online": True,
        "billing.view": True,
        "billing.desk": True,
        "billing.adjust": True,
        "tenancy.view_members": True,
        "tenancy.manage_invitations": True,
        "tenancy.manage_members": True,
        "clinic.configure": True,
        "access.view_roles": True,
        "access.manage_roles": True,
        "scheduling.manage_appointments": True,
        "messaging.care_team": False,
    },
    CLINIC_ADMIN: {
        "hakeem.view_sync": True,
        **_EVERY_STAFF,
        "billing.claims": True,
        "billing.refund_online": True,
        "billing.view": True,
        "billing.desk": True,
        "billing.adjust": True,
        "tenancy.view_members": True,
        "tenancy.manage_invitations": True,
        "tenancy.manage_members": True,
        "clinic.configure": True,
        "access.view_roles": True,
        "access.manage_roles": True,
        "scheduling.manage_appointments": True,
        "messaging.care_team": False,
    },
    SECRETARY: {
        **_EVERY_STAFF,
        "billing.claims": True,
        "billing.refund_online": False,
        "billing.view": True,
        "billing.desk": True,
        "billing.adjust": False,
        "tenancy.view_members": True,
        "access.view_roles": False,
        "scheduling.manage_appointments": True,
        "messaging.care_team": True,
    },
    ASSISTANT_DOCTOR: {
        "hakeem.view_sync": True,
        "hakeem.import_history": True,
        **_EVERY_STAFF,
        "tenancy.view_members": False,
        "records.view_chart": True,
        "records.record_vitals": True,
        "records.record_history": True,
        "records.document_visit": True,
        "records.record_results": True,
        "careplans.manage": False,
        "telehealth.consult": False,
        "messaging.care_team": True,
    },
    NURSE: {
        "hakeem.view_sync": True,
        "hakeem.import_history": True,
        **_EVERY_STAFF,
        "tenancy.view_members": False,
        "documents.create": False,
        "records.view_chart": True,
        "records.record_vitals": True,
        "records.record_history": True,
        "records.record_results": True,
        "messaging.care_team": True,
    },
    DOCTOR: {
        "hakeem.view_sync": True,
        "hakeem.import_history": True,
        **_EVERY_STAFF,
        "family.care": True,
        "billing.view": False,
        "tenancy.view_members": True,
        "access.view_roles": False,
        "records.view_chart": True,
        "records.record_vitals": True,
        "records.record_history": True,
        "records.document_visit": True,
        "records.commit_visit": True,
        "records.record_results": True,
        "careplans.manage": True,
        "telehealth.consult": True,
        "telehealth.urgent_care": True,
        "messaging.care_team": True,
    },
    PATIENT: {
        **_EVERY_SIGNED_IN,
        "family.use_own": True,
        "patient.use_app": True,
        "appointments.book": True,
        "records.view_own": True,
        "records.manage_own": True,
        "adherence.manage_own_doses": True,
        "adherence.record_own_vitals": True,
        "careplans.follow_own": True,
        "telehealth.use_own": True,
        "messaging.use_own": True,
        "subscriptions.manage_own": True,
        "billing.pay_own": True,
        "billing.view_own": True,
    },
}

#: Permissions a clinic may never take away from these roles (so that nobody locks the clinic out).
LOCKED_GRANTS = {
    (CLINIC_ADMIN, "access.manage_roles"),
    (GENERAL_ADMIN, "access.manage_roles"),
    (CLINIC_ADMIN, "access.view_roles"),
    (GENERAL_ADMIN, "access.view_roles"),
}


#: Who may adjust whom in a clinic: only roles ranked strictly below one's own highest role.
ROLE_RANK = {GENERAL_ADMIN: 2, CLINIC_ADMIN: 1}


def rank(roles) -> int:
    return max((ROLE_RANK.get(role, 0) for role in roles), default=0)


def role_spec(code: str) -> RoleSpec:
    return next(r for r in ROLES if r.code == code)
