from django.urls import path

from . import (
    account_views,
    care_views,
    clinic_care_views,
    clinic_views,
    desk_views,
    my_record_views,
    patient_views,
    platform_views,
    record_views,
    team_views,
    views,
)

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("welcome", views.landing, name="landing"),
    path("accounts/sign-in", views.sign_in, name="sign_in"),
    path("accounts/sign-out", views.sign_out, name="sign_out"),
    path("accounts/two-factor", account_views.two_factor, name="two_factor"),
    path("accounts/phone", account_views.phone_sign_in, name="phone_sign_in"),
    path("accounts/phone/code", account_views.phone_code, name="phone_code"),
    path("accounts/sign-up", account_views.sign_up, name="sign_up"),
    path("accounts/verify-email/<str:key>", account_views.verify_email, name="verify_email"),
    path("accounts/password-reset", account_views.password_reset, name="password_reset"),
    path("accounts/password-reset/code", account_views.password_reset_code, name="password_reset_code"),
    path(
        "accounts/password-reset/<str:uid>/<str:token>",
        account_views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("accounts/security", account_views.security, name="security"),
    path("accounts/notifications", account_views.notifications, name="notifications"),
    path("sw.js", account_views.service_worker, name="service_worker"),
    path("accounts/providers/<str:provider>", account_views.provider_start, name="provider_start"),
    path(
        "accounts/providers/<str:provider>/callback",
        account_views.provider_callback,
        name="provider_callback",
    ),
    path("accounts/invitations/<str:token>", account_views.invitation, name="invitation"),
    path("i18n/language", views.set_language, name="set_language"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("app", views.patient_home, name="patient_home"),
    path("app/search", patient_views.patient_search, name="patient_search"),
    path(
        "app/doctors/<uuid:listed_clinic_id>/<uuid:doctor_id>",
        patient_views.patient_doctor,
        name="patient_doctor",
    ),
    path("app/book", patient_views.patient_book, name="patient_book"),
    path("app/appointments", patient_views.patient_appointments, name="patient_appointments"),
    path(
        "app/appointments/<uuid:appointment_id>",
        patient_views.patient_appointment,
        name="patient_appointment",
    ),
    path("app/appointments/<uuid:appointment_id>/rate", patient_views.patient_rate, name="patient_rate"),
    path(
        "app/appointments/<uuid:appointment_id>/step",
        patient_views.patient_appointment_step,
        name="patient_appointment_step",
    ),
    *my_record_views.urlpatterns,
    *care_views.urlpatterns,
    path("clinic", views.clinic_picker, name="clinic_picker"),
    *record_views.urlpatterns,
    *clinic_care_views.urlpatterns,
    path("clinic/<uuid:clinic_id>", views.clinic_home, name="clinic_home"),
    path("clinic/<uuid:clinic_id>/staff", team_views.clinic_staff, name="clinic_staff"),
    path(
        "clinic/<uuid:clinic_id>/staff/<uuid:membership_id>", team_views.clinic_member, name="clinic_member"
    ),
    path("clinic/<uuid:clinic_id>/roles", team_views.clinic_roles, name="clinic_roles"),
    path("clinic/<uuid:clinic_id>/desk", desk_views.clinic_desk, name="clinic_desk"),
    path("clinic/<uuid:clinic_id>/desk/book", desk_views.clinic_desk_book, name="clinic_desk_book"),
    path(
        "clinic/<uuid:clinic_id>/desk/<uuid:appointment_id>",
        desk_views.clinic_desk_appointment,
        name="clinic_desk_appointment",
    ),
    path(
        "clinic/<uuid:clinic_id>/roles/<slug:role>/<str:permission>",
        team_views.clinic_role_permission,
        name="clinic_role_permission",
    ),
    path("clinic/<uuid:clinic_id>/doctors", team_views.clinic_doctors, name="clinic_doctors"),
    path("clinic/<uuid:clinic_id>/doctors/<uuid:doctor_id>", team_views.clinic_doctor, name="clinic_doctor"),
    path(
        "clinic/<uuid:clinic_id>/doctors/<uuid:doctor_id>/hours",
        team_views.clinic_doctor_hours,
        name="clinic_doctor_hours",
    ),
    path(
        "clinic/<uuid:clinic_id>/doctors/<uuid:doctor_id>/time-off",
        team_views.clinic_doctor_time_off,
        name="clinic_doctor_time_off",
    ),
    path(
        "clinic/<uuid:clinic_id>/doctors/<uuid:doctor_id>/time-off/<uuid:time_off_id>/remove",
        team_views.clinic_doctor_time_off_remove,
        name="clinic_doctor_time_off_remove",
    ),
    path("clinic/<uuid:clinic_id>/invitations", views.clinic_invitations, name="clinic_invitations"),
    path("clinic/<uuid:clinic_id>/documents", views.clinic_documents, name="clinic_documents"),
    path("clinic/<uuid:clinic_id>/settings/hours", clinic_views.settings_hours, name="settings_hours"),
    path(
        "clinic/<uuid:clinic_id>/settings/services", clinic_views.settings_services, name="settings_services"
    ),
    path(
        "clinic/<uuid:clinic_id>/settings/closures", clinic_views.settings_closures, name="settings_closures"
    ),
    path(
        "clinic/<uuid:clinic_id>/settings/closures/<uuid:closure_id>/remove",
        clinic_views.settings_closure_remove,
        name="settings_closure_remove",
    ),
    path("clinic/<uuid:clinic_id>/settings/areas", clinic_views.settings_areas, name="settings_areas"),
    path("clinic/<uuid:clinic_id>/settings/profile", clinic_views.settings_profile, name="settings_profile"),
    path("clinic/<uuid:clinic_id>/settings/photos", clinic_views.settings_photos, name="settings_photos"),
    path(
        "clinic/<uuid:clinic_id>/settings/photos/<uuid:photo_id>/remove",
        clinic_views.settings_photo_remove,
        name="settings_photo_remove",
    ),
    path("clinic-photos/<uuid:photo_id>", views.clinic_photo, name="clinic_photo"),
    path(
        "clinic/<uuid:clinic_id>/settings/insurance",
        clinic_views.settings_insurance,
        name="settings_insurance",
    ),
    path(
        "clinic/<uuid:clinic_id>/documents/<uuid:document_id>/file",
        views.clinic_document_file,
        name="clinic_document_file",
    ),
    path("files/<str:token>", views.signed_file, name="signed_file"),
    path("platform", platform_views.platform_home, name="platform_home"),
    path("platform/clinics/<uuid:managed_clinic_id>", platform_views.platform_clinic, name="platform_clinic"),
    path("platform/plans", platform_views.platform_plans, name="platform_plans"),
    path("platform/plans/new", platform_views.platform_plan, name="platform_plan_new"),
    path("platform/plans/<slug:code>", platform_views.platform_plan, name="platform_plan"),
    path("platform/applications", views.platform_applications, name="platform_applications"),
    path("platform/audit", views.platform_audit, name="platform_audit"),
    path("platform/ratings", platform_views.platform_ratings, name="platform_ratings"),
    path("platform/ratings/<uuid:rating_id>", platform_views.platform_rating, name="platform_rating"),
    path("platform/reference", platform_views.reference_home, name="platform_reference"),
    path("platform/reference/<str:kind>", platform_views.reference_list, name="platform_reference_list"),
    path("platform/reference/<str:kind>/new", platform_views.reference_entry, name="platform_reference_new"),
    path(
        "platform/reference/<str:kind>/<uuid:entry_id>",
        platform_views.reference_entry,
        name="platform_reference_entry",
    ),
    path(
        "platform/applications/<uuid:application_id>", views.platform_application, name="platform_application"
    ),
    path(
        "platform/applications/<uuid:application_id>/documents/<int:number>",
        views.platform_application_document,
        name="platform_application_document",
    ),
    path("clinics/apply", views.clinic_apply, name="clinic_apply"),
]
