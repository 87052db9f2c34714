"""The product's URLs plus test-only endpoints (``@pytest.mark.urls("tests.testapp.urls")``)."""

from django.urls import path

from shifa.urls import handler400, handler403, handler404, handler500
from shifa.urls import urlpatterns as product_urlpatterns

from . import callbacks

urlpatterns = [
    path("test-callbacks/<str:name>", callbacks.receive, name="test_callback"),
    *product_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
