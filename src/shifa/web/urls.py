from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("welcome", views.landing, name="landing"),
    path("accounts/sign-in", views.sign_in, name="sign_in"),
    path("accounts/sign-out", views.sign_out, name="sign_out"),
    path("i18n/language", views.set_language, name="set_language"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("app", views.patient_home, name="patient_home"),
    path("clinic", views.clinic_picker, name="clinic_picker"),
    path("clinic/<uuid:clinic_id>", views.clinic_home, name="clinic_home"),
    path("clinic/<uuid:clinic_id>/staff", views.clinic_staff, name="clinic_staff"),
    path("platform", views.platform_home, name="platform_home"),
]
