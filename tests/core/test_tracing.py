"""OpenTelemetry traces (issue 14, docs/decisions/0036-tracing.md): server spans named by route with the request id
and their queries as children, job spans, outbound calls; nothing identifying in what leaves the process; the real
OTLP exporter configured by environment alone; nothing installed without that environment."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction

from shifa.core import tracing
from tests.conftest import ApiClient

pytestmark = pytest.mark.heavy(80)

ROOT = Path(__file__).resolve().parents[2]
NATIONAL_ID = "9871234567"
PHONE = "0791234567"
SECRET_QUERY = "tok-8c1d2f7e9a3b4c5d"


class Recorded:
    def __init__(self, provider, exporter):
        self.provider, self.exporter = provider, exporter

    def __call__(self) -> list:
        """The spans finished so far."""
        self.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.provider.force_flush()
        self.exporter.clear()


@pytest.fixture
def spans():
    """Trace into memory through the production pipeline (batching, ``private_span``)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    previous = tracing._provider
    if previous is not None:  # traced from the environment: step aside for the test
        tracing.uninstall()
    exporter = InMemorySpanExporter()
    provider = tracing.make_provider([exporter], default_service_name="shifa-test", shutdown_on_exit=False)
    tracing.install(provider)
    yield Recorded(provider, exporter)
    tracing.uninstall()
    provider.shutdown()
    if previous is not None:
        tracing.install(previous)


def new_traced_connection() -> None:
    """The connections made before the instrumentation are not traced: drop them, so that the next ones are made,
    and traced. Both this thread's and the one of asgiref's thread-sensitive executor, where the sync code of an
    ASGI request (and of an earlier test's jobs) runs."""

    def renew():
        connections.close_all()
        with contextlib.suppress(AttributeError):  # none made in this thread yet
            del connections["default"]
        with connections["default"].cursor():
            pass
        return connections["default"].connection.cursor_factory

    for factory in (renew(), asyncio.run(sync_to_async(renew)())):
        assert factory.__module__.startswith("opentelemetry"), factory


def values_of(span) -> list[str]:
    texts = [span.name, *(str(v) for v in span.attributes.values())]
    for event in span.events:
        texts.extend(str(v) for v in event.attributes.values())
    return texts


def leaks(all_spans, secrets) -> list[tuple[str, str]]:
    return [(span.name, text) for span in all_spans for text in values_of(span) for s in secrets if s in text]


def children(all_spans, parent):
    return [s for s in all_spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def asgi_get(path: str, token: str):
    """The request as uvicorn hands it to Django: an ASGI request (its URL attributes come from the scope)."""
    from django.test import AsyncClient

    return asyncio.run(AsyncClient().get(path, headers={"Authorization": f"Bearer {token}"}))


def database_spans(all_spans):
    return [s for s in all_spans if s.attributes.get("db.system") == "postgresql"]


@pytest.mark.django_db(transaction=True)
def test_an_api_request_is_a_server_span_named_by_route_with_its_queries_and_nothing_identifying(spans, cast):
    doctor = ApiClient(cast.staff_a["doctor"])
    token = doctor.token()
    new_traced_connection()
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")  # outside any trace: no span
    clinic = cast.clinic_a.external_id
    patient = cast.patient.external_id
    search = f"/api/v1/clinics/{clinic}/patients?q={NATIONAL_ID}&token={SECRET_QUERY}"
    chart = f"/api/v1/clinics/{clinic}/patients/{patient}/chart?q={PHONE}"
    secrets = [token, NATIONAL_ID, PHONE, SECRET_QUERY, str(patient), str(clinic)]
    # through Django's WSGI-style handler, then as uvicorn hands requests over (URL attributes from the ASGI scope)
    for get in (doctor.get, lambda path: asgi_get(path, token)):
        spans.clear()
        answers = [get(search), get(chart)]
        assert answers[0].status_code == 200, answers[0].content

        all_spans = spans()
        assert leaks(all_spans, secrets) == []
        servers = {s.name: s for s in all_spans if s.kind.name == "SERVER"}
        assert set(servers) == {
            "GET api/v1/clinics/<clinic_id>/patients",
            "GET api/v1/clinics/<clinic_id>/patients/<patient_id>/chart",
        }, servers.keys()
        searched = servers["GET api/v1/clinics/<clinic_id>/patients"]
        assert searched.attributes["shifa.request_id"] == answers[0]["X-Request-ID"]
        assert searched.attributes["http.route"] == "api/v1/clinics/<clinic_id>/patients"
        assert searched.attributes["http.status_code"] == 200
        assert not {"http.url", "url.full", "http.target", "url.path", "url.query"} & set(searched.attributes)
        queries = database_spans(children(all_spans, searched))
        assert queries, [s.name for s in all_spans]
        statements = " ".join(s.attributes["db.statement"] for s in queries)
        assert "records_patient" in statements and "%s" in statements
        assert all(s.context.trace_id == searched.context.trace_id for s in queries)
        assert all(s.parent is not None for s in database_spans(all_spans))


@pytest.mark.django_db(transaction=True)
def test_a_job_run_is_a_span_with_its_name_id_and_attempt_and_its_queries(spans):
    from procrastinate.contrib.django.models import ProcrastinateJob

    from tests.core.test_jobs import run_worker_until_idle
    from tests.factories import ClinicFactory
    from tests.testapp.models import ClinicalNote
    from tests.testapp.tasks import append_to_note

    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="Plan:")
    with transaction.atomic():
        append_to_note.defer(note_id=note.pk, text="review in 2 weeks")
        append_to_note.defer(note_id=-1, text="no such note")
    new_traced_connection()
    run_worker_until_idle()

    jobs = {j.status: j for j in ProcrastinateJob.objects.filter(task_name="testapp.append_to_note")}
    all_spans = spans()
    # the worker's own polling and bookkeeping, outside any job, are not traced
    assert all(s.parent is not None for s in database_spans(all_spans))
    job_spans = {s.attributes["shifa.job.id"]: s for s in all_spans if s.name == "job testapp.append_to_note"}
    done, failed = job_spans[jobs["succeeded"].id], job_spans[jobs["failed"].id]
    assert done.kind.name == "CONSUMER" and done.parent is None
    assert done.attributes["shifa.job.name"] == "testapp.append_to_note"
    assert done.attributes["shifa.job.attempt"] == 1
    assert done.attributes["shifa.job.queue"] == "default"
    assert done.status.status_code.name == "UNSET"
    assert any("UPDATE" in s.attributes.get("db.statement", "") for s in children(all_spans, done))
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["error.type"].endswith("DoesNotExist")
    assert "review in 2 weeks" not in json.dumps([values_of(s) for s in all_spans])


class _Answer(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):
        _Answer.seen.append(dict(self.headers))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_outbound_httpx_call_is_a_client_span_without_query_or_identifiers(spans, local_server):
    _Answer.seen.clear()
    url = f"{local_server}/fhir/Patient/{NATIONAL_ID}?identifier={NATIONAL_ID}&token={SECRET_QUERY}"
    with httpx.Client() as client:
        assert client.get(url, headers={"Authorization": "Bearer provider-secret"}).status_code == 200

    (span,) = spans()
    assert span.kind.name == "CLIENT"
    assert span.attributes["http.url"] == f"{local_server}/fhir/Patient/:id"
    assert span.attributes["http.status_code"] == 200
    assert leaks([span], [NATIONAL_ID, SECRET_QUERY, "provider-secret"]) == []
    # the provider's side can join the trace
    assert _Answer.seen[0]["traceparent"].split("-")[1] == format(span.context.trace_id, "032x")


def test_log_records_written_in_a_span_carry_its_trace_and_span_ids(spans):
    import logging

    record = logging.LogRecord("shifa", logging.INFO, __file__, 1, "hello", None, None)
    tracing.TraceContextFilter().filter(record)
    assert not hasattr(record, "trace_id")
    with tracing._provider.get_tracer("test").start_as_current_span("work") as span:
        tracing.TraceContextFilter().filter(record)
    assert record.trace_id == format(span.get_span_context().trace_id, "032x")
    assert record.span_id == format(span.get_span_context().span_id, "016x")


@pytest.mark.django_db
def test_djangos_line_about_a_refused_request_carries_the_requests_trace_id(spans):
    import logging

    from django.test import Client

    class Keep(logging.Handler):
        records: list = []

        def emit(self, record):
            Keep.records.append(record)

    handler = Keep()
    logging.getLogger("django.request").addHandler(handler)
    try:
        assert (
            Client().get("/api/v1/clinics/2c4e5a0c-1111-4222-8333-944455556666/patients").status_code == 401
        )
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    (record,) = Keep.records
    tracing.TraceContextFilter().filter(record)
    (server,) = [s for s in spans() if s.kind.name == "SERVER"]
    assert record.trace_id == format(server.context.trace_id, "032x")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
    ],
)
def test_the_environment_decides_whether_and_where_traces_go(environ, expected):
    assert tracing.requested_exporters(environ) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "shifa-web"),
        ({"OTEL_SERVICE_NAME": "shifa-eu"}, "shifa-eu"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=shifa-jo,deployment.environment=staging"}, "shifa-jo"),
    ],
)
def test_the_service_is_named_by_role_unless_the_environment_names_it(monkeypatch, environ, expected):
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    provider = tracing.make_provider([], default_service_name="shifa-web", shutdown_on_exit=False)
    assert provider.resource.attributes["service.name"] == expected
    assert tracing.process_role(["shifa", "manage", "procrastinate", "worker"]) == "worker"
    assert tracing.process_role(["shifa", "run"]) == "web"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://secure.paytabs.sa/payment/request", "https://secure.paytabs.sa/payment/request"),
        (
            "https://user:pw@hakeem.example/fhir/Patient?identifier=1234567890",
            "https://hakeem.example/fhir/Patient",
        ),
        (
            "https://hakeem.example:8443/fhir/Patient/12345/_history/2",
            "https://hakeem.example:8443/fhir/Patient/:id/_history/2",
        ),
        ("https://api.push.apple.com/3/device/" + "a" * 64, "https://api.push.apple.com/3/device/:id"),
        ("https://sms.example/v1/send/+962791234567#x", "https://sms.example/v1/send/:id"),
        ("https://mail.example/users/someone@example.com", "https://mail.example/users/:id"),
    ],
)
def test_outbound_urls_lose_credentials_queries_and_identifying_segments(url, expected):
    assert tracing._client_url(url) == expected


def test_without_the_environment_configure_installs_nothing():
    """In a fresh process (the provider can be set once per process), with no OpenTelemetry variable."""
    script = """
import sys, django
django.setup()
from django.conf import settings
import httpx, psycopg
from procrastinate.contrib.django import app
from shifa.core import tracing
assert tracing.configure() is False and not tracing.enabled()
assert not any("opentelemetry" in m for m in settings.MIDDLEWARE), settings.MIDDLEWARE
assert not hasattr(psycopg.connect, "__wrapped__") and not hasattr(psycopg.Connection.connect, "__wrapped__")
assert not hasattr(httpx.HTTPTransport.handle_request, "__wrapped__")
assert tracing.job_span not in app.worker_defaults.get("worker_middleware", [])
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.instrumentation")))
assert not loaded, loaded
print("nothing installed")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "shifa.settings.test",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nothing installed" in done.stdout


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: POST /v1/traces with an ExportTraceServiceRequest in protobuf."""

    received: list = []

    def do_POST(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            _Collector.received.append(request)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def database_environment() -> dict:
    """Environment pointing a ``shifa`` process at this test database."""
    name = connections["default"].settings_dict["NAME"]
    url = os.environ.get("DATABASE_URL")
    if url:
        parts = urlsplit(url)
        return {"DATABASE_URL": urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))}
    return {"SHIFA_DB_NAME": name}


@pytest.mark.django_db(transaction=True)
def test_the_standalone_worker_sends_its_spans_over_otlp_configured_by_environment_alone():
    from tests.factories import ClinicFactory
    from tests.testapp.models import ClinicalNote
    from tests.testapp.tasks import append_to_note

    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="Plan:")
    with transaction.atomic():
        append_to_note.defer(note_id=note.pk, text="review in 2 weeks")
    _Collector.received.clear()
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= database_environment() | {
        "DJANGO_SETTINGS_MODULE": "shifa.settings.test",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
    }
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("shifa")), "manage", "procrastinate", "worker", "--one-shot"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
        )
    finally:
        collector.shutdown()
        collector.server_close()
    assert done.returncode == 0, done.stderr[-3000:]
    note.refresh_from_db()
    assert note.text == "Plan: review in 2 weeks"

    exported = []
    for request in _Collector.received:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                exported.extend((resource, span) for span in scope_spans.spans)
    assert exported, done.stderr[-3000:]
    assert {resource["service.name"] for resource, _ in exported} == {"shifa-worker"}
    (job,) = [span for _, span in exported if span.name == "job testapp.append_to_note"]
    attributes = {a.key: a.value for a in job.attributes}
    assert attributes["shifa.job.attempt"].int_value == 1
    queries = [span for _, span in exported if span.parent_span_id == job.span_id]
    assert any(
        "UPDATE" in a.value.string_value
        for span in queries
        for a in span.attributes
        if a.key == "db.statement"
    )
