"""FastAPI glue: `instrument_app` gives a service the contract's telemetry in one
call, and `llm_call` wraps each call to an LLM provider.

`instrument_app(app, ...)` adds, before the app starts serving, a pure ASGI
middleware (not BaseHTTPMiddleware, which costs more per request and buffers
streamed responses) that:
- opens the server span per request with the SDK directly (server_span.py:
  W3C context accepted, span named by the route template, the stable HTTP
  attribute names; /metrics scrapes get none);
- accepts or generates `X-Request-ID`, returns it on every response and binds it in
  structlog's contextvars; observes `http_server_request_duration_seconds`
  (method, route template - never the raw path - status code, error_type; the
  trace id as exemplar); writes one access line per request on logger
  `gateway.access` (debug for /metrics, info otherwise; uvicorn's own access
  lines are dropped, they would say the same again); answers an unhandled
  exception through the app's own 500 handler (else a JSON 500) and writes
  one classified error line (`gateway.errors`). What it records is what the
  client received, and a request that failed carries error_type whatever its
  status line said (contract.FAILED_REQUEST_MATCHER): a stream that broke
  after its 200 header is status 200 with the exception's error_type;
- `GET /metrics`: the service's `ServiceMetrics`, OpenMetrics when asked.

The instrumentation never raises into the request: a failure of its own is
logged (logger `gateway_telemetry`) and the request goes on. One app per
process is instrumented at a time (the OTel SDK has one tracing set-up per
process); `Instrumentation.uninstrument()` undoes everything.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_HEADER_TEMPLATE, HttpRequestMethodValues
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars

from gateway_telemetry.contract import provider_name
from gateway_telemetry.errors import error_fields
from gateway_telemetry.logs import get_logger
from gateway_telemetry.masking import holds_secret
from gateway_telemetry.metrics import ServiceMetrics
from gateway_telemetry.server_span import ServerSpan
from gateway_telemetry.tracing import (
    configure_tracing,
    gen_ai_attributes,
    gen_ai_span_name,
    shutdown_tracing,
    tracer,
)

REQUEST_ID_HEADER = "x-request-id"
METRICS_PATH = "/metrics"
# A caller's request id is kept only when it is a sane token holding no
# secret: it goes into every log line and response, so no control
# characters, no unbounded length.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# The kit's own generator of request ids: seeded from os.urandom, its own
# state (a service's random.seed(0) must not make every worker repeat the
# same ids), seeded again in each forked worker.
_REQUEST_IDS = random.Random()
os.register_at_fork(after_in_child=_REQUEST_IDS.seed)
# HTTP semantic conventions: a method outside the well-known set is "_OTHER"
# on metrics, so a client cannot mint label values.
_KNOWN_METHODS = frozenset(m.value for m in HttpRequestMethodValues) - {"_OTHER"}
_RESPONSE_REQUEST_ID = f"{HTTP_RESPONSE_HEADER_TEMPLATE}.{REQUEST_ID_HEADER}"
_SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"

_access_log = get_logger("gateway.access")
_error_log = get_logger("gateway.errors")
_llm_log = get_logger("gateway.llm")
_kit_log = get_logger("gateway_telemetry")

_active: Instrumentation | None = None


class _DropUvicornAccessLines(logging.Filter):
    """uvicorn's own access line would repeat the kit's (as `uvicorn --no-access-log` would drop it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_DROP_UVICORN_ACCESS = _DropUvicornAccessLines()
_UVICORN_ACCESS_LOGGER = "uvicorn.access"


class Instrumentation:
    """What `instrument_app` added to one app; `uninstrument()` takes it away.

    Attributes:
        app: the instrumented FastAPI app.
        service: the contract service name.
        metrics: the service's `ServiceMetrics` (its counters: `metrics.count(...)`).
        tracer_provider: the OTel SDK provider (`force_flush()` in tests).
    """

    def __init__(self, app: FastAPI, service: str, metrics: ServiceMetrics, tracer_provider: TracerProvider) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.tracer_provider = tracer_provider
        self.tracer = tracer_provider.get_tracer("gateway_telemetry")
        self._route: BaseRoute | None = None
        self._native_telemetry: dict = {}

    def uninstrument(self) -> None:
        """Remove the middleware, the server spans and `/metrics`, and shut tracing down
        (queued spans are exported first). Calling it twice is harmless."""
        global _active
        app = self.app
        app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not _KitMiddleware]
        if self._route is not None and self._route in app.router.routes:
            app.router.routes.remove(self._route)
        self._route = None
        native = getattr(app, "_telemetry", None)
        if isinstance(native, dict):
            native.update(self._native_telemetry)
        self._native_telemetry = {}
        logging.getLogger(_UVICORN_ACCESS_LOGGER).removeFilter(_DROP_UVICORN_ACCESS)
        # Built again, without the kit, on the next request (as for a new app).
        app.middleware_stack = None
        if _active is self:
            _active = None
            shutdown_tracing()

    async def _metrics_endpoint(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)


def instrument_app(
    app: FastAPI,
    *,
    service: str,
    environment: str,
    version: str,
    exporter: SpanExporter | None = None,
) -> Instrumentation:
    """Give `app` the contract's traces, metrics, access logs and request ids.

    Call it once, before the app serves its first request; logging is configured
    apart, with `gateway_telemetry.logs.configure_logging`. `exporter` replaces
    the OTLP/HTTP exporter (tests pass an InMemorySpanExporter); sampling and
    the endpoint come from the `OTEL_*` variables (see `configure_tracing`).

    Raises:
        TypeError: `app` is not a FastAPI app.
        RuntimeError: the app is already serving, or another app of this
            process is instrumented (uninstrument it first).
        ValueError: `service` is not a service the kit instruments, or an empty
            environment or version, or a bad OTEL_TRACES_SAMPLER (from
            `ServiceMetrics` and `configure_tracing`).
    """
    global _active
    if not isinstance(app, FastAPI):
        raise TypeError(f"app: given {type(app).__name__}; must be a fastapi.FastAPI")
    if app.middleware_stack is not None:
        raise RuntimeError("instrument_app: the app is already serving requests; call it right after creating the app")
    if _active is not None:
        raise RuntimeError(
            f"instrument_app: {_active.service!r} is already instrumented in this process "
            "(one per process); call its uninstrument() first"
        )
    metrics = ServiceMetrics(service)
    with _stable_http_conventions():
        provider = configure_tracing(service=service, environment=environment, version=version, metrics=metrics, exporter=exporter)
        handle = Instrumentation(app, service, metrics, provider)
        try:
            _instrument(app, handle, provider)
        except BaseException:
            _active = handle
            handle.uninstrument()  # leaves the app and the process as they were
            raise
    _active = handle
    return handle


# What FastAPI's own telemetry does while the kit instruments an app: nothing.
_NATIVE_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def _instrument(app: FastAPI, handle: Instrumentation, provider: TracerProvider) -> None:
    # FastAPI 0.163 has telemetry of its own (fastapi/telemetry/_asgi.py,
    # NativeTelemetry.enabled): on as soon as a global tracer provider
    # exists, it adds a second server span and three operation spans per
    # request, its own http.server metrics, and exception messages to an OTel
    # logger, none of them masked. The kit records the contract's, so it
    # turns FastAPI's off for this app, in the config dict NativeTelemetry
    # reads (FastAPI(telemetry=...) is the only public switch, and the app
    # exists already); uninstrument() puts it back. Older FastAPI has none.
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        handle._native_telemetry = {key: native[key] for key in _NATIVE_TELEMETRY_OFF if key in native}
        native.update(_NATIVE_TELEMETRY_OFF)
    app.add_middleware(_KitMiddleware, instrumentation=handle)
    # An APIRoute, not a plain Starlette route: FastAPI's router puts only
    # APIRoutes in scope["route"], where the middleware reads the route template.
    app.add_api_route(METRICS_PATH, handle._metrics_endpoint, methods=["GET"], include_in_schema=False)
    handle._route = app.router.routes[-1]
    logging.getLogger(_UVICORN_ACCESS_LOGGER).addFilter(_DROP_UVICORN_ACCESS)


@contextmanager
def _stable_http_conventions() -> Iterator[None]:
    """httpx client spans with the stable HTTP attribute names
    (http.request.method, http.response.status_code, url.full), the names the
    contract's metrics and the kit's server spans use, instead of the
    instrumentation's old default (http.method, http.status_code). It reads
    OTEL_SEMCONV_STABILITY_OPT_IN once per process, on first use
    (opentelemetry-instrumentation 0.66b2, _semconv.py): set only when unset,
    and only for that moment; an operator's own choice, or an earlier
    instrumentation of the process, wins."""
    if _SEMCONV_OPT_IN in os.environ:
        yield
        return
    os.environ[_SEMCONV_OPT_IN] = "http"
    try:
        yield
    finally:
        del os.environ[_SEMCONV_OPT_IN]


def current_request_id() -> str | None:
    """The X-Request-ID of the request being served (None outside a request).

    Send it on calls to peer services so that one request id runs through
    every service's log lines, e.g. as an httpx request event hook.
    """
    value = get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


@dataclass
class _Request:
    """What the middleware knows about the request being served."""

    request_id: str
    method: str
    path: str
    started: float
    trace_id: str | None
    server: ServerSpan | None
    tokens: dict = field(default_factory=dict)
    status: int | None = None
    error_type: str | None = None


class _KitMiddleware:
    """The kit's pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, instrumentation: Instrumentation) -> None:
        self.app = app
        self.kit = instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _guarded(_begin, scope, self.kit)
        if request is None:
            await self.app(scope, receive, send)
            return
        request_id = request.request_id.encode()
        _guarded(self.kit.metrics.request_started, request.method)

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                request.status = message["status"]
                if request.server is not None:
                    request.server.responded(request.status)
                message = {**message, "headers": [*message.get("headers", ()), (REQUEST_ID_HEADER.encode(), request_id)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            _guarded(_failed, request, exc)
            # Half sent (a stream that broke after its 200 header): the server
            # aborts the connection; the request is recorded as failed with the
            # status the client got. In debug mode Starlette's traceback page answers.
            if request.status is not None or getattr(scope.get("app"), "debug", False):
                raise
            # The kit answers here, with the app's own 500 handler when it has
            # one, so the status it records is the one the client receives.
            response = await _error_response(scope, receive, exc, request.request_id)
            await response(scope, receive, send_with_request_id)
        finally:
            _guarded(self.kit.metrics.request_finished, request.method)
            _guarded(_end, self.kit, request, scope)


def _guarded(function, *args):
    """Run one of the kit's own steps; a failure is logged, never raised into the request."""
    try:
        return function(*args)
    except Exception as exc:  # the instrumentation must not break the service
        try:
            _kit_log.error("telemetry kit failure", step=function.__name__, error_type=type(exc).__name__, error_source="internal", exc_info=exc)
        except Exception:
            pass
        return None


def _begin(scope: Scope, kit: Instrumentation) -> _Request:
    given = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
    request_id = given.decode() if given is not None and _SANE_REQUEST_ID.fullmatch(given) else None
    # The kit repeats the id in every line, span and response: a client's
    # value that holds a secret (`sk-proj-...` is a sane token) is never kept.
    if request_id is None or holds_secret(request_id):
        # 128 random bits as 32 hex digits, as uuid4().hex, without its
        # urandom system call: an id, not a secret.
        request_id = f"{_REQUEST_IDS.getrandbits(128):032x}"
    method = scope["method"] if scope["method"] in _KNOWN_METHODS else "_OTHER"
    # Scrapes are not traffic: a span every 15 s per service is noise in Jaeger.
    server = ServerSpan.start(kit.tracer, scope, method) if scope["path"] != METRICS_PATH else None
    span = server.span if server is not None else trace.get_current_span()
    context = span.get_span_context()
    if span.is_recording():
        span.set_attribute(_RESPONSE_REQUEST_ID, [request_id])
    return _Request(
        request_id=request_id,
        method=method,
        path=scope["path"],
        started=time.perf_counter(),
        trace_id=format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None,
        server=server,
        tokens=bind_contextvars(request_id=request_id),
    )


def _failed(request: _Request, exc: Exception) -> None:
    # Starlette replaces an exception the app has a handler for, raised once
    # the response had started (a stream broken mid-way), with a RuntimeError
    # (starlette/_exception_handler.py, 1.x): what failed is its cause.
    if isinstance(exc, RuntimeError) and isinstance(exc.__cause__, Exception) and "response already started" in str(exc):
        exc = exc.__cause__
    fields = error_fields(exc)
    request.error_type = fields["error_type"]
    if request.server is not None:
        request.server.failed(exc, request.error_type)
    _error_log.error("unhandled exception", exc_info=exc, **fields)


def _end(kit: Instrumentation, request: _Request, scope: Scope) -> None:
    seconds = time.perf_counter() - request.started
    status = request.status if request.status is not None else 500
    # The matched APIRoute's template; "" when none matched (404) or for a
    # plain Starlette route (HTTP conventions: no http.route rather than a raw path).
    route = getattr(scope.get("route"), "path", None) or ""
    # HTTP conventions: error.type is the exception's, else the status code for server errors.
    error_type = request.error_type or (str(status) if status >= 500 else None)
    try:
        is_scrape = route == METRICS_PATH
        if not is_scrape:
            kit.metrics.observe_request(
                method=request.method,
                route=route,
                status_code=status,
                error_type=error_type,
                seconds=seconds,
                trace_id=request.trace_id,
                scheme=scope.get("scheme", "http"),
            )
        log = _access_log.debug if is_scrape else _access_log.info
        log("http request", method=request.method, path=request.path, status=status, latency_ms=round(seconds * 1000, 3))
    finally:
        reset_contextvars(**request.tokens)
        if request.server is not None:
            request.server.end(route, status, error_type)


async def _error_response(scope: Scope, receive: Receive, exc: Exception, request_id: str) -> Response:
    """What Starlette's ServerErrorMiddleware would answer for `exc`: the
    app's handler for 500 or Exception (the last registered, as
    Starlette.build_middleware_stack picks it; sync handlers in the thread
    pool), else the kit's JSON 500 carrying the request id."""
    handlers = getattr(scope.get("app"), "exception_handlers", {})
    handler = next((h for key, h in reversed(handlers.items()) if key in (500, Exception)), None)
    if handler is None:
        return JSONResponse({"detail": "Internal Server Error", "request_id": request_id}, 500)
    request = Request(scope, receive)
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None)):
        return await handler(request, exc)
    return await run_in_threadpool(handler, request, exc)


@dataclass
class LLMCall:
    """One LLM call in progress; the caller fills in what the provider answered.

    Attributes (None when unknown; unknown counts are not recorded):
        response_model: the model the provider says answered.
        response_id: the provider's id of its answer (`chatcmpl-...`, `msg_...`).
        finish_reasons: why the model stopped, one per choice (("stop",),
            ("length",), ("tool_calls",)).
        input_tokens, output_tokens: token usage.
        cost_usd: the call's cost in US dollars.
    """

    provider: str
    model: str
    operation: str
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None

    def first_chunk(self) -> None:
        """Mark the first chunk of a streamed answer now (later calls are
        ignored): gives the time to first chunk (token). Call it on streamed
        calls only: the conventions record the metric for those alone."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    first_token = first_chunk  # the name the kit's first release gave it


@asynccontextmanager
async def llm_call(
    *,
    provider: str,
    model: str,
    operation: str = "chat",
    virtual_key_id: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    stream: bool | None = None,
) -> AsyncIterator[LLMCall]:
    """Trace and measure one LLM call:

        async with llm_call(provider="openai", model="gpt-4o-mini", virtual_key_id=key_id,
                            server_address="api.openai.com", server_port=443, stream=True) as call:
            ...  # stream from the provider; call.first_chunk() on the first chunk
            call.input_tokens, call.output_tokens, call.cost_usd = 12, 40, 0.0001
            call.response_id, call.finish_reasons = "chatcmpl-123", ("stop",)

    `provider` becomes the GenAI conventions' well-known name where one
    applies ("bedrock" -> "aws.bedrock"; contract.provider_name) in the span,
    the metrics and the log line alike. A client span `{operation} {model}`
    with the GenAI attributes (request and response model, tokens, response
    id and finish reasons, `gen_ai.request.stream`, the provider's
    `server.address` and `server.port`) and `gateway.virtual_key.id` (the
    id, never the key); on exit `gen_ai_client_operation_duration_seconds`,
    `gen_ai_client_token_usage` (input and output), `gateway_llm_cost_usd_total`,
    `gateway_llm_time_to_first_token_seconds` and
    `gen_ai_client_operation_time_to_first_chunk_seconds` (when
    `first_chunk()` was called) and `gateway_llm_time_per_output_token_seconds`
    (a successful streamed call with more than one output token), and one
    log line on `gateway.llm`. An exception is classified (`errors.classify`: error_type,
    error_source), recorded on the span, the duration histogram (error_type
    and error_source labels) and an error line with provider, model and
    upstream_status, then re-raised unchanged.

    Raises:
        RuntimeError: no app of this process is instrumented (`instrument_app`).
    """
    kit = _active
    if kit is None:
        raise RuntimeError("llm_call: no app is instrumented in this process; call instrument_app first")
    call = LLMCall(provider=_guarded(provider_name, provider) or str(provider), model=model, operation=operation)
    request = {"virtual_key_id": virtual_key_id, "server_address": server_address, "server_port": server_port, "stream": stream}
    attributes = _guarded(_request_attributes, call, request) or {}
    with tracer(__name__).start_as_current_span(
        gen_ai_span_name(operation, model),
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield call
        except Exception as exc:
            _guarded(_llm_failed, kit, call, span, exc)
            raise
        _guarded(_llm_done, kit, call, span)


def _request_attributes(call: LLMCall, request: dict) -> dict:
    return gen_ai_attributes(call.operation, call.provider, call.model, **request)


def _response_attributes(call: LLMCall) -> dict:
    """What the provider answered, as far as the caller filled it in."""
    return gen_ai_attributes(
        call.operation,
        call.provider,
        call.model,
        call.response_model,
        call.input_tokens,
        call.output_tokens,
        response_id=call.response_id,
        finish_reasons=call.finish_reasons,
    )


def _set_response_attributes(span: trace.Span, call: LLMCall) -> None:
    span.set_attributes(_response_attributes(call))


def _llm_done(kit: Instrumentation, call: LLMCall, span: trace.Span) -> None:
    seconds = time.perf_counter() - call.started
    # A response field the caller filled in wrongly costs its attributes
    # (logged as a kit failure), never the call's metrics and line.
    _guarded(_set_response_attributes, span, call)
    _record_llm_call(kit, call, seconds, None, None)
    _llm_log.info(
        "llm call",
        provider=call.provider,
        model=call.model,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=call.cost_usd,
        latency_ms=round(seconds * 1000, 3),
    )


def _llm_failed(kit: Instrumentation, call: LLMCall, span: trace.Span, exc: Exception) -> None:
    seconds = time.perf_counter() - call.started
    # error_type, error_source, and upstream_status when the provider answered.
    fields = {"provider": call.provider, **error_fields(exc)}
    # Tokens, response id and finish reasons a stream had given before it broke.
    _guarded(_set_response_attributes, span, call)
    span.record_exception(exc)
    span.set_attribute(ERROR_TYPE, fields["error_type"])
    span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
    _record_llm_call(kit, call, seconds, fields["error_type"], fields["error_source"])
    _llm_log.error("llm call failed", model=call.model, latency_ms=round(seconds * 1000, 3), **fields)


def _record_llm_call(
    kit: Instrumentation, call: LLMCall, seconds: float, error_type: str | None, error_source: str | None
) -> None:
    context = trace.get_current_span().get_span_context()
    time_to_first_token = None if call.first_token_at is None else call.first_token_at - call.started
    # OTel's gen_ai.server.time_per_output_token: the time after the first
    # token over the tokens after it, for successful streamed calls only.
    streamed_tokens = (call.output_tokens or 0) - 1
    time_per_output_token = None
    if error_type is None and time_to_first_token is not None and streamed_tokens > 0:
        time_per_output_token = (seconds - time_to_first_token) / streamed_tokens
    kit.metrics.observe_llm_call(
        operation=call.operation,
        provider=call.provider,
        model=call.model,
        seconds=seconds,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=call.cost_usd,
        time_to_first_token=time_to_first_token,
        time_per_output_token=time_per_output_token,
        error_type=error_type,
        error_source=error_source,
        trace_id=format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None,
    )
