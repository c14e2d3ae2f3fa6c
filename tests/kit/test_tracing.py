"""Tracing as an exporter and a collector receive it: resource, GenAI attributes, W3C propagation,
sampling from the environment, and the span pipeline's drops counted in /metrics."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from examples.gateway.otlp_receiver import OtlpReceiver
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from gateway_telemetry import tracing
from gateway_telemetry.metrics import ServiceMetrics

OTEL_VARIABLES = (
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def _clean_otel_environment(monkeypatch):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.shutdown_tracing()


def configure(metrics=None, exporter=None, service="unified-llm-api"):
    return tracing.configure_tracing(service=service, environment="staging", version="2.0.1", metrics=metrics, exporter=exporter)


def llm_call_span(model="gpt-4o"):
    """A server span with one GenAI client span inside, the way the demo's llm_call makes them."""
    tracer = tracing.tracer("test")
    with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER):
        attributes = tracing.gen_ai_attributes(
            "chat", "openai", model, response_model=f"{model}-2024-08-06", input_tokens=12, output_tokens=40,
            virtual_key_id="vk_123",
        )
        with tracer.start_as_current_span(tracing.gen_ai_span_name("chat", model), kind=SpanKind.CLIENT, attributes=attributes):
            pass


def scrape(metrics: ServiceMetrics) -> dict[str, list]:
    body, _ = metrics.exposition("application/openmetrics-text; version=1.0.0")
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


GEN_AI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 40,
    "gateway.virtual_key.id": "vk_123",
}


def test_in_memory_exporter_receives_resource_and_gen_ai_attributes(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "not-this-one")
    exporter = InMemorySpanExporter()
    provider = configure(exporter=exporter)
    llm_call_span()
    provider.force_flush()

    server, client = sorted(exporter.get_finished_spans(), key=lambda s: s.kind != SpanKind.SERVER)
    assert (server.name, client.name) == ("POST /v1/chat", "chat gpt-4o")
    assert client.parent.span_id == server.context.span_id
    assert dict(client.attributes) == GEN_AI
    resource = dict(client.resource.attributes)
    assert {k: resource[k] for k in ("service.name", "service.version", "deployment.environment.name")} == {
        "service.name": "unified-llm-api",
        "service.version": "2.0.1",
        "deployment.environment.name": "staging",
    }


def test_otlp_http_export_delivers_the_spans_a_collector_decodes(monkeypatch):
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-scope-orgid=gateway")
        provider = configure(metrics=ServiceMetrics("unified-llm-api"))
        llm_call_span("gpt-4o")
        llm_call_span("gpt-4o")
        provider.force_flush()
        spans = receiver.wait_for_spans(4)

    assert sorted(s.name for s in spans) == ["POST /v1/chat", "POST /v1/chat", "chat gpt-4o", "chat gpt-4o"]
    clients = [s for s in spans if s.kind == "SPAN_KIND_CLIENT"]
    servers = {s.span_id: s for s in spans if s.kind == "SPAN_KIND_SERVER"}
    assert all(s.attributes == GEN_AI for s in clients)
    assert all(servers[c.parent_span_id].trace_id == c.trace_id for c in clients), "client span under its server span"
    assert len({c.trace_id for c in clients}) == 2, "each request its own trace"
    assert all(len(s.trace_id) == 32 and int(s.trace_id, 16) for s in spans)
    assert {k: spans[0].resource[k] for k in ("service.name", "service.version", "deployment.environment.name")} == {
        "service.name": "unified-llm-api",
        "service.version": "2.0.1",
        "deployment.environment.name": "staging",
    }
    assert all(h["x-scope-orgid"] == "gateway" and h["content-type"] == "application/x-protobuf" for h in receiver.headers)


class _HeaderRecorder(BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).received.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def upstream():
    """A local HTTP server that records the headers of each request it gets."""
    _HeaderRecorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeaderRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", _HeaderRecorder.received
    server.shutdown()
    server.server_close()


def test_outgoing_httpx_calls_carry_traceparent_the_upstream_extracts(upstream):
    url, received = upstream
    exporter = InMemorySpanExporter()
    provider = configure(exporter=exporter)
    with tracing.tracer("test").start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER) as server:
        httpx.get(url)
    provider.force_flush()

    extracted = TraceContextTextMapPropagator().extract(received[0])
    upstream_parent = next(iter(extracted.values())).get_span_context()
    httpx_span = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT)
    assert upstream_parent.trace_id == server.get_span_context().trace_id
    assert upstream_parent.span_id == httpx_span.context.span_id, "the upstream's parent is the httpx client span"
    assert upstream_parent.trace_flags.sampled


def test_async_httpx_calls_carry_traceparent_too(upstream):
    url, received = upstream
    configure(exporter=InMemorySpanExporter())

    async def call() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(url)

    with tracing.tracer("test").start_as_current_span("request") as server:
        asyncio.run(call())
    assert received[0]["traceparent"].split("-")[1] == format(server.get_span_context().trace_id, "032x")


def test_shutdown_flushes_and_undoes_the_httpx_instrumentation(upstream):
    url, received = upstream
    exporter = InMemorySpanExporter()
    configure(exporter=exporter)
    tracing.tracer("test").start_span("queued").end()
    tracing.shutdown_tracing()
    assert [s.name for s in exporter.get_finished_spans()] == ["queued"], "flushed on shutdown"

    httpx.get(url)
    assert "traceparent" not in received[0]


def test_ratio_zero_sampler_from_the_environment_exports_nothing(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    exporter = InMemorySpanExporter()
    metrics = ServiceMetrics("unified-llm-api")
    provider = configure(metrics=metrics, exporter=exporter)
    for _ in range(20):
        llm_call_span()
    provider.force_flush()
    assert exporter.get_finished_spans() == ()
    assert scrape(metrics)["otel_sdk_processor_span_processed"] == []


def test_ratio_one_sampler_from_the_environment_exports_everything(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1")
    exporter = InMemorySpanExporter()
    provider = configure(exporter=exporter)
    for _ in range(5):
        llm_call_span()
    provider.force_flush()
    assert len(exporter.get_finished_spans()) == 10


@pytest.mark.parametrize(
    ("sampler", "argument", "message"),
    [
        ("probabilistic", None, "OTEL_TRACES_SAMPLER: given 'probabilistic'; must be one of always_on, always_off, "
         "traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"),
        ("traceidratio", "1.5", "OTEL_TRACES_SAMPLER_ARG: given '1.5'; must be a sampling ratio from 0 to 1 for "
         "OTEL_TRACES_SAMPLER=traceidratio"),
        ("parentbased_traceidratio", "ten percent", "OTEL_TRACES_SAMPLER_ARG: given 'ten percent'; must be a sampling "
         "ratio from 0 to 1 for OTEL_TRACES_SAMPLER=parentbased_traceidratio"),
    ],
)
def test_a_sampler_the_sdk_would_silently_replace_is_refused(monkeypatch, sampler, argument, message):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if argument is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", argument)
    with pytest.raises(ValueError) as caught:
        configure(exporter=InMemorySpanExporter())
    assert str(caught.value) == message


class _BlockedExporter(SpanExporter):
    """A collector that stops answering: export blocks until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans):
        self.entered.set()
        self.release.wait(10)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def test_spans_dropped_on_a_full_queue_are_counted_as_queue_full(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    exporter = _BlockedExporter()
    metrics = ServiceMetrics("unified-llm-api")
    configure(metrics=metrics, exporter=exporter)
    for _ in range(2):  # one batch: the worker takes it and hangs in export
        tracing.tracer("test").start_span("first").end()
    assert exporter.entered.wait(10)
    for _ in range(48):
        tracing.tracer("test").start_span("burst").end()

    samples = scrape(metrics)
    processed = {s.labels["error_type"]: s.value for s in samples["otel_sdk_processor_span_processed"]}
    assert samples["otel_sdk_processor_span_queue_capacity"][0].value == 4
    assert samples["otel_sdk_processor_span_queue_size"][0].value == 4, "the queue is full while the collector hangs"
    assert processed == {"": 2.0, "queue_full": 44.0}, "2 handed to the exporter, 4 queued, 44 dropped"
    exporter.release.set()


def test_failed_exports_are_counted_with_their_error_type(monkeypatch):
    with OtlpReceiver(status=400) as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        metrics = ServiceMetrics("unified-llm-api")
        provider = configure(metrics=metrics)
        tracing.tracer("test").start_span("lost").end()
        provider.force_flush()
    exported = scrape(metrics)["otel_sdk_exporter_span_exported"]
    assert [(s.labels["error_type"], s.value) for s in exported] == [("400", 1.0)], "refused, not exported"
    assert receiver.spans == []


def test_spans_sent_to_no_collector_are_counted_as_failed(monkeypatch):
    with OtlpReceiver() as gone:
        endpoint = gone.traces_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    metrics = ServiceMetrics("unified-llm-api")
    provider = configure(metrics=metrics)
    tracing.tracer("test").start_span("lost").end()
    provider.force_flush()
    exported = scrape(metrics)["otel_sdk_exporter_span_exported"]
    assert [(s.labels["error_type"], s.value) for s in exported] == [("_OTHER", 1.0)]


def test_accepted_spans_are_counted_as_exported(monkeypatch):
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        metrics = ServiceMetrics("unified-llm-api")
        provider = configure(metrics=metrics)
        for _ in range(3):
            tracing.tracer("test").start_span("kept").end()
        provider.force_flush()
        receiver.wait_for_spans(3)
    exported = scrape(metrics)["otel_sdk_exporter_span_exported"]
    assert [(s.labels["otel_component_type"], s.labels["error_type"], s.value) for s in exported] == [
        ("otlp_http_span_exporter", "", 3.0)
    ]


def test_an_explicit_false_keeps_the_sdk_self_metrics_off(monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "false")
    metrics = ServiceMetrics("unified-llm-api")
    provider = configure(metrics=metrics, exporter=InMemorySpanExporter())
    tracing.tracer("test").start_span("one").end()
    provider.force_flush()
    assert scrape(metrics)["otel_sdk_processor_span_processed"] == []


def test_configuring_twice_is_refused_until_shutdown():
    configure(exporter=InMemorySpanExporter())
    with pytest.raises(RuntimeError, match=r"tracing is already configured for 'unified-llm-api'; call shutdown_tracing\(\) first"):
        configure(exporter=InMemorySpanExporter(), service="intelligent-router")
    tracing.shutdown_tracing()
    provider = configure(exporter=InMemorySpanExporter(), service="intelligent-router")
    assert provider.resource.attributes["service.name"] == "intelligent-router"


@pytest.mark.parametrize(("key", "value"), [("service", ""), ("environment", " "), ("version", None)])
def test_an_empty_resource_attribute_is_refused(key, value):
    arguments = {"service": "unified-llm-api", "environment": "dev", "version": "1", key: value}
    with pytest.raises(ValueError) as caught:
        tracing.configure_tracing(**arguments, metrics=None, exporter=InMemorySpanExporter())
    assert str(caught.value) == f"{key}: given {value!r}; must be a non-empty string"


def test_gen_ai_attributes_leave_out_what_is_unknown():
    assert tracing.gen_ai_attributes("embeddings", "cohere", "embed-v3") == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "embed-v3",
    }


@pytest.mark.parametrize("tokens", [-1, 1.5, True, "12"])
def test_gen_ai_attributes_refuse_a_token_count_that_is_not_a_count(tokens):
    with pytest.raises(ValueError) as caught:
        tracing.gen_ai_attributes("chat", "openai", "gpt-4o", output_tokens=tokens)
    assert str(caught.value) == f"gen_ai.usage.output_tokens: given {tokens!r}; must be a non-negative integer"
