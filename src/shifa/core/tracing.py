"""OpenTelemetry traces (docs/decisions/0036-tracing.md), off unless the standard OpenTelemetry environment asks for
them: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); ``OTEL_SDK_DISABLED=true`` wins over both.

``configure()`` runs once per process, from ``CoreConfig.ready()``: every way Shifa starts (``shifa run`` and each of
its web processes, the standalone worker, management commands) sets Django up, and does so before the first request
handler loads its middleware. It traces:

* each HTTP request Django answers, as a server span named by the route's pattern (``GET api/v1/clinics/<clinic_id>/patients``),
  with our request id as ``shifa.request_id``;
* the SQL statements run inside a request, a job or an outbound call (text only: the values travel apart and are
  never recorded; statements outside any trace, such as the worker's polling, are not traced at all);
* outbound HTTP calls made with httpx (PayTabs, Hakeem, SMS, push);
* each background job a worker runs (``job <task name>``, with the job's id, queue and attempt).

Whatever the instrumentations record, only the attributes named in ``ALLOWED_ATTRIBUTES`` leave the process: no
header, query string, client address, exception message or parameter value ever does (``_PrivateSpans``).

When tracing is off nothing is installed and neither OpenTelemetry's SDK nor an instrumentation is imported; the log
filter then costs one comparison per record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger(__name__)

#: The exporters Shifa knows (``OTEL_TRACES_EXPORTER``); ``none`` turns tracing off.
EXPORTERS = ("otlp", "console")

#: The span attribute carrying our request id (the ``X-Request-ID`` answered with every response).
REQUEST_ID_ATTRIBUTE = "shifa.request_id"

#: The attributes allowed to leave the process; every other attribute an instrumentation sets is dropped. Both the
#: older and the current semantic conventions are listed (the instrumentations switch with
#: ``OTEL_SEMCONV_STABILITY_OPT_IN``). Deliberately absent: URLs' paths and queries of our own pages (their route
#: pattern says where a request went), request and response headers, client addresses and user agents (personal
#: data), ``db.statement.parameters``, exception messages and stack traces (they quote values).
ALLOWED_ATTRIBUTES = frozenset(
    {
        # HTTP, both sides
        "http.method",
        "http.request.method",
        "http.request.method_original",
        "http.status_code",
        "http.response.status_code",
        "http.route",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "http.host",
        "http.server_name",
        "net.host.name",
        "net.host.port",
        "server.address",
        "server.port",
        "net.peer.name",
        "http.request_content_length",
        "http.response_content_length",
        "http.request.body.size",
        "http.response.body.size",
        "error.type",
        # outbound calls only, and scrubbed: see _client_url
        "http.url",
        "url.full",
        # database
        "db.system",
        "db.system.name",
        "db.name",
        "db.namespace",
        "db.user",
        "db.statement",
        "db.query.text",
        "db.operation.name",
        # ours
        REQUEST_ID_ATTRIBUTE,
        "shifa.job.name",
        "shifa.job.id",
        "shifa.job.queue",
        "shifa.job.attempt",
    }
)
_URL_ATTRIBUTES = frozenset({"http.url", "url.full"})
_EVENT_ATTRIBUTES = frozenset({"exception.type"})

#: Requests not traced unless ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS`` says otherwise: probes and scrapes come every few
#: seconds and would bury the traces worth reading.
DEFAULT_EXCLUDED_URLS = r"^[^?]*://[^/]+/(healthz|metrics)/?(\?.*)?$"

_provider = None  # the SDK's TracerProvider this process traces with; None while tracing is off
_tracer = None  # the tracer of job spans


def requested_exporters(environ=None) -> list[str]:
    """The exporters the environment asks for, by name; empty when tracing stays off."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if raw:
        names = [name.strip() for name in raw.split(",") if name.strip()]
        if "none" in names:
            return []
        unknown = [name for name in names if name not in EXPORTERS]
        if unknown:
            logger.warning("OTEL_TRACES_EXPORTER names exporters Shifa does not have: %s", ", ".join(unknown))
        return [name for name in EXPORTERS if name in names]
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def process_role(argv: list[str] | None = None) -> str:
    """``worker`` for the standalone job worker (``shifa manage procrastinate worker``), ``web`` otherwise."""
    argv = sys.argv if argv is None else argv
    return "worker" if "procrastinate" in argv and "worker" in argv else "web"


def configure(*, role: str | None = None) -> bool:
    """Trace this process if the environment asks for it; whether it is traced. Later calls change nothing: the
    global tracer provider can be set once per process."""
    if _provider is not None:
        return True
    exporters = requested_exporters()
    if not exporters:
        return False
    from opentelemetry import trace

    provider = make_provider(
        [_exporter(name) for name in exporters], default_service_name=f"shifa-{role or process_role()}"
    )
    trace.set_tracer_provider(provider)
    install(provider)
    logger.info("tracing on: %s", ", ".join(exporters))
    return True


def _exporter(name: str):
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or ""
    ).strip()
    if protocol and protocol != "http/protobuf":
        logger.warning("OTLP protocol %r is not available; traces are sent as http/protobuf", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Endpoint, headers, timeout, compression and certificates come from the OTEL_EXPORTER_OTLP_* variables.
    return OTLPSpanExporter()


def make_provider(exporters, *, default_service_name: str, shutdown_on_exit: bool = True):
    """A tracer provider sending, in batches, what leaves the process (``_PrivateSpans``) to each exporter.

    The sampler comes from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (parent-based, always on, by
    default) and the resource from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``; without a service name
    there, ``default_service_name``. The provider flushes and shuts down when the process exits."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource, get_aggregated_resources
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    defaults = {"service.name": default_service_name}
    with contextlib.suppress(PackageNotFoundError):
        defaults["service.version"] = version("shifa")
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults
    resource = get_aggregated_resources([OTELResourceDetector()], initial_resource=Resource(defaults))
    provider = TracerProvider(resource=resource, shutdown_on_exit=shutdown_on_exit)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(_PrivateSpans(exporter)))
    return provider


def install(provider) -> None:
    """Instrument Django, psycopg, httpx and the job worker, tracing with ``provider``.

    ``configure()`` calls it with the process's provider; tests call it with one of their own, and ``uninstall()``
    after."""
    global _provider, _tracer
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from procrastinate.contrib.django import app as procrastinate_app

    _provider = provider
    _tracer = provider.get_tracer(__name__)
    excluded = (
        os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS")
        or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
        or DEFAULT_EXCLUDED_URLS
    )
    # The middleware goes first in settings.MIDDLEWARE, so it must be there before a handler loads the middleware:
    # ready() runs before Django builds its ASGI, WSGI or test handlers.
    DjangoInstrumentor().instrument(
        tracer_provider=provider,
        response_hook=_server_span_done,
        excluded_urls=excluded,
        is_sql_commentor_enabled=False,
    )
    # Statements only, never their values (capture_parameters), and no comment appended to the SQL sent.
    PsycopgInstrumentor().instrument(
        tracer_provider=_ChildSpansOnly(provider),
        enable_commenter=False,
        enable_attribute_commenter=False,
        capture_parameters=False,
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    # Every worker of this process (the in-process one, the standalone one, tests') is made from this app's defaults.
    middleware = procrastinate_app.worker_defaults.setdefault("worker_middleware", [])
    if job_span not in middleware:
        middleware.append(job_span)


def uninstall() -> None:
    """Undo ``install()`` (for tests: the process's own provider, once configured, stays)."""
    global _provider, _tracer
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from procrastinate.contrib.django import app as procrastinate_app

    DjangoInstrumentor().uninstrument()
    PsycopgInstrumentor().uninstrument()
    HTTPXClientInstrumentor().uninstrument()
    middleware = procrastinate_app.worker_defaults.get("worker_middleware", [])
    if job_span in middleware:
        middleware.remove(job_span)
    _provider = None
    _tracer = None


def enabled() -> bool:
    return _provider is not None


def flush(timeout_millis: int = 5000) -> None:
    """Send the spans still waiting in the batch (at the ASGI lifespan's shutdown; exit also does it)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def _server_span_done(span, request, response) -> None:
    """Django's response hook: the request id is known once RequestIdMiddleware (after this one) has run."""
    request_id = getattr(request, "request_id", None)
    if request_id and span.is_recording():
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
    # Django logs a refused or failed request once this span has ended: the log filter finds the span here.
    request.otel_span_context = span.get_span_context()


async def job_span(call_next, context, worker):
    """procrastinate worker middleware: one span around each job run, parent of the job's queries and calls."""
    tracer = _tracer
    if tracer is None:
        return await call_next()
    from opentelemetry.trace import SpanKind, Status, StatusCode

    job = context.job
    attributes = {
        "shifa.job.name": job.task_name,
        "shifa.job.queue": job.queue,
        # procrastinate counts the attempts that ended before this one
        "shifa.job.attempt": job.attempts + 1,
    }
    if job.id is not None:
        attributes["shifa.job.id"] = job.id
    with tracer.start_as_current_span(
        f"job {job.task_name}",
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            return await call_next()
        except BaseException as exc:
            # The type only: the message may quote a patient's data. The log line of the failure has the details
            # and this span's trace id.
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to a log record written while a span is active (or about a request that
    had one), so that a log line leads to its trace (the JSON formatter writes them as fields). It must run before
    ``SecretPathFilter``, which replaces ``record.request`` with text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _provider is None:
            return True
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            # django.request's line about a 4xx/5xx answer, written after the request's span ended
            context = getattr(getattr(record, "request", None), "otel_span_context", context)
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class _ChildSpansOnly:
    """The tracer provider given to the database instrumentation: a statement gets a span only inside a trace (a
    request, a job). Outside one — the worker polling for jobs, its heartbeats, a migration —
    each statement would otherwise be a trace of its own, several a second, saying nothing. (Duck-typed, like
    ``_PrivateSpans``: while tracing is off this module imports nothing of OpenTelemetry.)"""

    def __init__(self, provider) -> None:
        self._provider = provider

    def get_tracer(self, *args, **kwargs):
        return _ChildSpansOnlyTracer(self._provider.get_tracer(*args, **kwargs))


class _ChildSpansOnlyTracer:
    def __init__(self, tracer) -> None:
        self._tracer = tracer

    @staticmethod
    def _in_a_trace(context) -> bool:
        from opentelemetry import trace

        return trace.get_current_span(context).get_span_context().is_valid

    def start_span(self, name, context=None, *args, **kwargs):
        if not self._in_a_trace(context):
            from opentelemetry import trace

            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    def start_as_current_span(self, name, context=None, *args, **kwargs):
        if not self._in_a_trace(context):
            from opentelemetry import trace

            return contextlib.nullcontext(trace.INVALID_SPAN)
        return self._tracer.start_as_current_span(name, context, *args, **kwargs)


#: A path segment that may identify someone or be a secret: four digits or more (ids, phone and national numbers),
#: twenty characters or more (tokens, UUIDs, device tokens, account SIDs), or an address.
_IDENTIFYING_SEGMENT = re.compile(r".{20,}|.*@|(?:\D*\d){4}")


def _client_url(url: str) -> str:
    """An outbound call's URL without credentials, query or fragment, identifying segments of its path as ``:id``
    (``https://hakeem.example/fhir/Patient/:id``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = "/".join(
        ":id" if _IDENTIFYING_SEGMENT.match(segment) else segment for segment in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def private_span(span):
    """A copy of a finished span holding only what may leave the process: allowed attributes (outbound URLs
    scrubbed, our own URLs dropped), exception events reduced to their type, links without attributes, the status
    without its description."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link, SpanKind, Status

    attributes = {}
    for key, value in (span.attributes or {}).items():
        if key not in ALLOWED_ATTRIBUTES:
            continue
        if key in _URL_ATTRIBUTES:
            if span.kind != SpanKind.CLIENT or not isinstance(value, str):
                continue
            value = _client_url(value)
        attributes[key] = value
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k in _EVENT_ATTRIBUTES},
            event.timestamp,
        )
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=[Link(link.context) for link in span.links],
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class _PrivateSpans:
    """A span exporter passing on ``private_span`` copies to the real one. It runs in the batch processor's
    thread, off the requests' path."""

    def __init__(self, exporter) -> None:
        self.exporter = exporter

    def export(self, spans):
        return self.exporter.export([private_span(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
