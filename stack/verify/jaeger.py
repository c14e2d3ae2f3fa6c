"""Jaeger v2: a canary span sent over OTLP/HTTP (protobuf, the receiver's
/v1/traces) and read back by trace id through the query API the UI uses,
`GET /api/traces/<id>` on the UI port (jaeger_query's APIHandler.getTrace,
cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go in
v2.20: 404 until the trace is stored, then {"data": [{"traceID", "spans",
"processes"}]})."""

from __future__ import annotations

import os
import time

from stack.verify.client import CheckFailed, post, request
from stack.verify.report import Check, poll

CANARY_SERVICE = "stack-verify"
# The batch processor flushes within a second; storage may take a little more.
TRACE_WAIT_SECONDS = 20.0


def canary_request(trace_id: bytes, span_id: bytes, environment: str) -> bytes:
    """An ExportTraceServiceRequest (opentelemetry-proto) holding one span."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def attribute(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    now = time.time_ns()
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        name="stack verify canary",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now - 1_000_000,
        end_time_unix_nano=now,
        attributes=[attribute("stack.verify", "canary")],
    )
    resource = Resource(attributes=[attribute("service.name", CANARY_SERVICE), attribute("deployment.environment.name", environment)])
    request_ = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])])
    return request_.SerializeToString()


def new_ids() -> tuple[bytes, bytes]:
    """A random trace id with a non-zero high half (Jaeger prints it as 32 hex digits) and span id."""
    trace_id = b"\x01" + os.urandom(15)
    return trace_id, os.urandom(8)


def _stored(base: str, trace_hex: str, span_hex: str) -> str | None:
    url = f"{base}/api/traces/{trace_hex}"
    answer = request("GET", url)
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise CheckFailed(f"{url} answered {answer.status}")
    for trace in answer.json(url).get("data") or []:
        if int(trace.get("traceID", "0"), 16) != int(trace_hex, 16):
            continue
        for span in trace.get("spans") or []:
            if int(span.get("spanID", "0"), 16) == int(span_hex, 16):
                service = (trace.get("processes") or {}).get(span.get("processID"), {}).get("serviceName")
                return service or "?"
    return None


def check_canary_span(settings_environment: str, urls: dict[str, str]) -> str:
    try:
        trace_id, span_id = new_ids()
        body = canary_request(trace_id, span_id, settings_environment)
    except ImportError:
        raise CheckFailed("opentelemetry-proto is not installed (requirements.txt; run `make verify`)") from None
    post(f"{urls['jaeger-otlp']}/v1/traces", body, "application/x-protobuf")
    service = poll(lambda: _stored(urls["jaeger"], trace_id.hex(), span_id.hex()), TRACE_WAIT_SECONDS)
    if not service:
        raise CheckFailed(f"sent span of trace {trace_id.hex()} over OTLP; the query API did not return it within {TRACE_WAIT_SECONDS:g}s")
    return f"canary span sent over OTLP/HTTP, found by trace id {trace_id.hex()} (service {service})"


def checks(environment: str, urls: dict[str, str]) -> list[Check]:
    return [("jaeger canary span", lambda: check_canary_span(environment, urls))]
