from django.conf import settings
from django.urls import include, path

from shifa.access.declare import public_page
from shifa.api import API_PREFIX, api
from shifa.core.views import healthz, metrics

api_patterns, api_app_name, api_namespace = api.urls
for pattern in api_patterns:
    # The OpenAPI document and its human docs are public; every operation declares its own permission.
    if pattern.name in {"openapi-json", "openapi-view"}:
        public_page()(pattern.callback)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path(API_PREFIX.lstrip("/"), include((api_patterns, api_app_name), namespace=api_namespace)),
    path("", include("shifa.web.urls")),
]
if settings.SHIFA_SIMULATORS:
    urlpatterns.insert(0, path("simulators/", include("shifa.simulators.urls")))

handler400 = "shifa.web.errors.bad_request"
handler403 = "shifa.web.errors.forbidden"
handler404 = "shifa.web.errors.not_found"
handler500 = "shifa.web.errors.server_error"
