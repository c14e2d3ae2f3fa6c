"""The server span of one HTTP request, made with the OpenTelemetry SDK by
the kit's own ASGI middleware.

The contrib ASGI/FastAPI instrumentation did the same at about twice the
CPU of everything else the kit does per request (bench/kit_middleware.py):
it wraps every ASGI message, reads every header and builds its attributes
before knowing whether the span is sampled. Here the span is what the HTTP
semantic conventions (stable, v1.26 and later) ask of a server span, and no
more:

- the parent from `traceparent`/`tracestate`/`baggage` (the W3C propagators
  configure_tracing installs), so Kong's trace continues;
- named `{method} {http.route}` once the router has matched (`{method}`
  when nothing matched; `HTTP` for a method outside the well-known set);
- http.request.method (and http.request.method_original for `_OTHER`),
  url.path, url.query, url.scheme, server.address, server.port,
  network.protocol.version, client.address, user_agent.original,
  http.route, http.response.status_code and, for a failure, error.type;
  the attributes are built only for a sampled (recording) span;
- status ERROR for a 5xx answer or an exception, unset otherwise (a 4xx is
  the client's error, as the conventions say for server spans).

Every text on it (the query, the user agent, an exception message) is masked
on export by span_masking.MaskingSpanExporter.
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_PATH, URL_QUERY, URL_SCHEME
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from starlette.types import Scope

# The headers the W3C propagators read (traceparent, tracestate, baggage).
_PROPAGATION = frozenset({b"traceparent", b"tracestate", b"baggage"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_OTHER = "_OTHER"


class ServerSpan:
    """One request's span, current (attached to the context) from start() to end()."""

    __slots__ = ("span", "method", "_token")

    def __init__(self, span: trace.Span, method: str, token: object) -> None:
        self.span = span
        self.method = method
        self._token = token

    @classmethod
    def start(cls, tracer: trace.Tracer, scope: Scope, method: str) -> "ServerSpan":
        """Start and attach the span of the request in `scope`; `method` is
        the method as the metrics name it (`_OTHER` outside the known set)."""
        carrier = {}
        user_agent = host = None
        for name, value in scope["headers"]:
            if name in _PROPAGATION:
                carrier[name.decode("latin-1")] = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value
            elif name == b"host":
                host = value
        parent = propagate.extract(carrier) if carrier else None
        span = tracer.start_span(method if method != _OTHER else "HTTP", context=parent, kind=trace.SpanKind.SERVER)
        if span.is_recording():
            try:
                span.set_attributes(_request_attributes(scope, method, user_agent, host))
            except Exception:
                span.end()  # never left open: the caller serves the request without it
                raise
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return cls(span, method, token)

    def responded(self, status: int) -> None:
        """The response's status line went out."""
        if self.span.is_recording():
            self.span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status)

    def failed(self, exc: BaseException, error_type: str) -> None:
        """The request failed with `exc` (error_type: errors.error_fields')."""
        span = self.span
        if span.is_recording():
            span.record_exception(exc)
            span.set_attribute(ERROR_TYPE, error_type)
            span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")

    def end(self, route: str, status: int, error_type: str | None) -> None:
        """Name the span after the matched route (`""`: none), close it and
        detach it. A 5xx without an exception gets its status code as
        error.type, as the metrics do."""
        span = self.span
        try:
            if span.is_recording():
                if route:
                    span.update_name(f"{span.name} {route}")
                    span.set_attribute(HTTP_ROUTE, route)
                if status >= 500 and error_type is not None:
                    span.set_attribute(ERROR_TYPE, error_type)
                    span.set_status(trace.StatusCode.ERROR)
            span.end()
        finally:
            otel_context.detach(self._token)


def _request_attributes(scope: Scope, method: str, user_agent: bytes | None, host: bytes | None) -> dict:
    scheme = scope.get("scheme", "http")
    attributes = {
        HTTP_REQUEST_METHOD: method,
        URL_PATH: scope["path"],
        URL_SCHEME: scheme,
        NETWORK_PROTOCOL_VERSION: scope.get("http_version", "1.1"),
    }
    if method == _OTHER:
        attributes[HTTP_REQUEST_METHOD_ORIGINAL] = scope["method"]
    query = scope.get("query_string")
    if query:
        attributes[URL_QUERY] = query.decode("latin-1")
    if host:
        address, _, port = host.decode("latin-1").rpartition(":")
        if not address or "]" in port:  # no port, or a bare IPv6 address
            address, port = host.decode("latin-1"), ""
        attributes[SERVER_ADDRESS] = address.strip("[]")
        if port.isascii() and port.isdigit():  # "²".isdigit() is True, int("²") fails
            attributes[SERVER_PORT] = int(port)
        elif scheme in _DEFAULT_PORTS:
            attributes[SERVER_PORT] = _DEFAULT_PORTS[scheme]
    client = scope.get("client")
    if client:
        attributes[CLIENT_ADDRESS] = client[0]
    if user_agent:
        attributes[USER_AGENT_ORIGINAL] = user_agent.decode("latin-1")
    return attributes
