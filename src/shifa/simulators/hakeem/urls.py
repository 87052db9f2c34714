"""Hakeem's paths under the simulator's base (``SHIFA_PUBLIC_URL/simulators/hakeem``): the FHIR R4 API under
``fhir`` (``HAKEEM_FHIR_URL``) and the simulator's control page."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "sim_hakeem"

urlpatterns = [
    path("", views.control, name="control"),
    path("control/switch", views.control_switch, name="control_switch"),
    path("control/tasks/<str:fhir_id>/status", views.control_task_status, name="control_task_status"),
    path("control/reset", views.control_reset, name="control_reset"),
    path(
        "control/resources/<str:resource_type>/<str:fhir_id>", views.control_resource, name="control_resource"
    ),
    # The FHIR base answers with and without its trailing slash (clients join paths either way).
    path("fhir", views.base, name="base"),
    path("fhir/", views.base, name="base_slash"),
    path("fhir/metadata", views.metadata, name="metadata"),
    path("fhir/<str:resource_type>", views.type_endpoint, name="type"),
    path("fhir/<str:resource_type>/<str:fhir_id>", views.instance, name="instance"),
    path("fhir/<str:resource_type>/<str:fhir_id>/_history", views.history, name="history"),
    path("fhir/<str:resource_type>/<str:fhir_id>/_history/<int:version_id>", views.version, name="version"),
    path("fhir/<str:resource_type>/<str:fhir_id>/$everything", views.everything, name="everything"),
]
