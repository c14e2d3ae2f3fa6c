"""OpenTelemetry tracing for a gateway service: SDK set-up, span pipeline metrics, GenAI attributes.

`configure_tracing` builds the SDK's TracerProvider (resource from the
semantic-convention constants), a BatchSpanProcessor with the OTLP/HTTP
exporter, both configured by the standard `OTEL_*` variables the SDK reads
itself (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_TIMEOUT`,
`_COMPRESSION`; `OTEL_BSP_*`; `OTEL_TRACES_SAMPLER` and `_ARG`), W3C trace
context and baggage propagation, and httpx instrumented so every outgoing call
carries `traceparent`. Every span is masked (span_masking.MaskingSpanExporter)
before the exporter sends it. The span pipeline's health (queue size and capacity,
spans processed and dropped, spans exported) is the SDK's own self-observability
metrics (opentelemetry-sdk 1.45: `otel.sdk.processor.span.*`,
`otel.sdk.exporter.span.exported`), read into `ServiceMetrics` at each scrape.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.environment_variables import (
    OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData, Sum
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.semconv._incubating.attributes.deployment_attributes import DEPLOYMENT_ENVIRONMENT_NAME
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.semconv._incubating.attributes.otel_attributes import (
    OTEL_COMPONENT_NAME,
    OTEL_COMPONENT_TYPE,
    OtelComponentTypeValues,
)
from opentelemetry.semconv._incubating.metrics.otel_metrics import create_otel_sdk_exporter_span_exported
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE, ErrorTypeValues
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME, SERVICE_VERSION
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway_telemetry.contract import KIT_METRICS
from gateway_telemetry.metrics import ServiceMetrics, SpanPipelinePoint
from gateway_telemetry.span_masking import MaskingSpanExporter

# The virtual key's id on LLM client spans; the gateway's own attribute (no
# semantic convention has one). Never the key itself.
VIRTUAL_KEY_ID = "gateway.virtual_key.id"

# The built-in samplers of the OTel SDK environment-variable specification
# (sdk-environment-variables.md, OTEL_TRACES_SAMPLER). The SDK falls back to
# parentbased_always_on with only a warning on anything else; the kit refuses.
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")


@dataclass
class _Tracing:
    provider: TracerProvider
    meter_provider: MeterProvider | None
    metrics: ServiceMetrics | None
    set_global: bool


_active: _Tracing | None = None


def configure_tracing(
    *,
    service: str,
    environment: str,
    version: str,
    metrics: ServiceMetrics | None,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Set up tracing for this process and return the SDK TracerProvider.

    Args:
        service, environment, version: the resource's `service.name`,
            `deployment.environment.name` and `service.version` (these win over
            `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`).
        metrics: where the span pipeline's health is exposed (`contract.KIT_METRICS`),
            or None.
        exporter: the span exporter; by default OTLP/HTTP configured from the
            `OTEL_EXPORTER_OTLP_*` variables (tests pass an InMemorySpanExporter).

    The SDK only counts its span pipeline when `OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`
    is true when the processor is built; the kit turns it on for that moment
    when the variable is unset and `metrics` is given, and honours an explicit
    `false` (the processor's families are then exposed without samples).
    Exported spans are counted by the kit (see `_CountedOtlpExporter`).

    The global TracerProvider is set on the first call only (the OTel API
    refuses to replace it); the kit's own instrumentation (httpx here, FastAPI
    in `gateway_telemetry.fastapi`) and `tracer()` use the returned provider, so
    `shutdown_tracing()` followed by `configure_tracing()` works, as tests need.

    Raises:
        ValueError: an empty service, environment or version; an
            `OTEL_TRACES_SAMPLER` that is not a built-in sampler, or a ratio
            sampler's `OTEL_TRACES_SAMPLER_ARG` that is not a number in [0, 1].
        RuntimeError: tracing is already configured (call `shutdown_tracing()`).
    """
    global _active
    for key, value in (("service", service), ("environment", environment), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key}: given {value!r}; must be a non-empty string")
    _check_sampler_environment()
    if _active is not None:
        configured = _active.provider.resource.attributes.get(SERVICE_NAME)
        raise RuntimeError(f"tracing is already configured for {configured!r}; call shutdown_tracing() first")

    reader = InMemoryMetricReader() if metrics is not None else None
    meter_provider = MeterProvider(metric_readers=[reader]) if reader is not None else None
    if exporter is None:
        exporter = _CountedOtlpExporter(meter_provider) if meter_provider is not None else OTLPSpanExporter()
    after_export = metrics.span_pipeline_changed if metrics is not None else None
    with _sdk_self_metrics(enabled=metrics is not None):
        # Every span is masked before any exporter sees it (span_masking.py).
        processor = BatchSpanProcessor(MaskingSpanExporter(exporter, after_export), meter_provider=meter_provider)

    resource = Resource.create({SERVICE_NAME: service, SERVICE_VERSION: version, DEPLOYMENT_ENVIRONMENT_NAME: environment})
    provider = TracerProvider(resource=resource)  # no sampler: the SDK reads OTEL_TRACES_SAMPLER itself
    provider.add_span_processor(processor)
    # W3C only, whatever OTEL_PROPAGATORS says: every service and Kong must
    # agree on one format or traces break apart at the first hop.
    set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]))
    set_global = isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    if set_global:
        trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    if metrics is not None and reader is not None:
        metrics.read_span_pipeline_from(lambda: _span_pipeline_points(reader.get_metrics_data()))
    _active = _Tracing(provider, meter_provider, metrics, set_global)
    return provider


def shutdown_tracing() -> None:
    """Export what is queued, stop the span pipeline and undo the httpx instrumentation.

    Safe to call when tracing is not configured. The span pipeline families stay
    in `ServiceMetrics`, without samples.
    """
    global _active
    if _active is None:
        return
    state, _active = _active, None
    HTTPXClientInstrumentor().uninstrument()
    state.provider.force_flush()
    state.provider.shutdown()
    if state.metrics is not None:
        state.metrics.read_span_pipeline_from(None)
    if state.meter_provider is not None:
        state.meter_provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    """A tracer from the configured provider (the global one when tracing is not configured)."""
    provider = _active.provider if _active is not None else trace.get_tracer_provider()
    return provider.get_tracer(name)


def gen_ai_span_name(operation: str, request_model: str) -> str:
    """The GenAI conventions' client span name: `{gen_ai.operation.name} {gen_ai.request.model}`."""
    return f"{operation} {request_model}"


def gen_ai_attributes(
    operation: str,
    provider: str,
    request_model: str,
    response_model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    virtual_key_id: str | None = None,
    *,
    server_address: str | None = None,
    server_port: int | None = None,
    stream: bool | None = None,
    response_id: str | None = None,
    finish_reasons: Sequence[str] | None = None,
) -> dict[str, str | int | bool | tuple[str, ...]]:
    """Span attributes of one LLM call, named by the GenAI semantic-convention constants.

    Returns `{gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model}`
    plus, for the arguments that are not None (an attribute is absent rather
    than empty when unknown): `gen_ai.response.model`,
    `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
    `gateway.virtual_key.id`, `server.address` and `server.port` (the
    provider's host and port; the port only with the address, as the
    conventions make it conditional on it), `gen_ai.request.stream`,
    `gen_ai.response.id` and `gen_ai.response.finish_reasons` (a tuple of
    strings, such as ("stop",)). `virtual_key_id` is the key's id, never the key.

    Raises:
        ValueError: a token count that is not a non-negative integer, a port
            outside 1-65535, or finish reasons that are not strings.
    """
    attributes: dict[str, str | int | bool | tuple[str, ...]] = {
        GEN_AI_OPERATION_NAME: operation,
        GEN_AI_PROVIDER_NAME: provider,
        GEN_AI_REQUEST_MODEL: request_model,
    }
    for key, value in ((GEN_AI_USAGE_INPUT_TOKENS, input_tokens), (GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key}: given {value!r}; must be a non-negative integer")
            attributes[key] = value
    if response_model is not None:
        attributes[GEN_AI_RESPONSE_MODEL] = response_model
    if virtual_key_id is not None:
        attributes[VIRTUAL_KEY_ID] = virtual_key_id
    if server_address is not None:
        attributes[SERVER_ADDRESS] = server_address
        if server_port is not None:
            if isinstance(server_port, bool) or not isinstance(server_port, int) or not 1 <= server_port <= 65535:
                raise ValueError(f"{SERVER_PORT}: given {server_port!r}; must be a port number, 1-65535")
            attributes[SERVER_PORT] = server_port
    if stream is not None:
        attributes[GEN_AI_REQUEST_STREAM] = bool(stream)
    if response_id is not None:
        attributes[GEN_AI_RESPONSE_ID] = response_id
    if finish_reasons is not None:
        if isinstance(finish_reasons, str) or not all(isinstance(reason, str) for reason in finish_reasons):
            raise ValueError(f"{GEN_AI_RESPONSE_FINISH_REASONS}: given {finish_reasons!r}; must be a sequence of strings")
        attributes[GEN_AI_RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
    return attributes


def _check_sampler_environment() -> None:
    sampler = os.environ.get(OTEL_TRACES_SAMPLER)
    if sampler is None:
        return
    if sampler.strip().lower() not in _SAMPLERS:
        raise ValueError(f"{OTEL_TRACES_SAMPLER}: given {sampler!r}; must be one of {', '.join(_SAMPLERS)}")
    if sampler.strip().lower() in _RATIO_SAMPLERS and OTEL_TRACES_SAMPLER_ARG in os.environ:
        argument = os.environ[OTEL_TRACES_SAMPLER_ARG]
        try:
            ratio = float(argument)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(
                f"{OTEL_TRACES_SAMPLER_ARG}: given {argument!r}; must be a sampling ratio from 0 to 1 "
                f"for {OTEL_TRACES_SAMPLER}={sampler}"
            )


@contextmanager
def _sdk_self_metrics(*, enabled: bool) -> Iterator[None]:
    """Turn the SDK's self-observability switch on while the processor and exporter are built.

    The SDK reads only the environment variable, when the BatchSpanProcessor
    is built (1.45.2); set only when unset, so
    an operator's explicit choice wins, and restored afterwards.
    """
    if not enabled or OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED in os.environ:
        yield
        return
    os.environ[OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED] = "true"
    try:
        yield
    finally:
        del os.environ[OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED]


_KIT_METRIC_NAMES = frozenset(m.name for m in KIT_METRICS)


def _span_pipeline_points(data: MetricsData | None) -> list[SpanPipelinePoint]:
    """The SDK's self-observability points, named as Prometheus stores them.

    OTel to Prometheus naming: dots become underscores and a monotonic sum gets
    `_total` (the OpenMetrics compatibility spec); the `{span}` unit adds no
    suffix. Only the contract's metrics are kept (the exporter's inflight and
    operation duration are not in it).
    """
    points: list[SpanPipelinePoint] = []
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                monotonic = isinstance(metric.data, Sum) and metric.data.is_monotonic
                name = metric.name.replace(".", "_") + ("_total" if monotonic else "")
                if name not in _KIT_METRIC_NAMES:
                    continue
                for point in metric.data.data_points:
                    labels = {key.replace(".", "_"): str(value) for key, value in (point.attributes or {}).items()}
                    points.append((name, labels, float(point.value)))
    return points


_exporter_numbers = itertools.count()


class _CountedOtlpExporter(SpanExporter):
    """The OTLP/HTTP exporter, with `otel.sdk.exporter.span.exported` counted by the kit.

    Why not the SDK's own count: in opentelemetry-exporter-otlp-proto-http
    1.45.2 a batch the collector refuses with an HTTP status (400, or 503
    after the retries) carries no exception, and the exporter sets
    `error.type` only from an exception, so refused spans are counted as
    exported: drops hidden. Here `error.type` is the collector's HTTP status
    code (as the HTTP conventions name a failed request), or `_OTHER` when no
    answer came (connection refused, timeout); the status is read from a
    requests response hook on the exporter's session (public requests and
    exporter API). The exporter itself still reads every `OTEL_EXPORTER_OTLP_*`
    variable; its own metrics go to a no-op meter so nothing is counted twice.
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        self._status: int | None = None
        session = requests.Session()
        session.hooks["response"].append(self._record_status)
        self._exporter = OTLPSpanExporter(session=session, meter_provider=NoOpMeterProvider())
        self._exported = create_otel_sdk_exporter_span_exported(meter_provider.get_meter("gateway_telemetry"))
        component = OtelComponentTypeValues.OTLP_HTTP_SPAN_EXPORTER.value
        self._attributes = {OTEL_COMPONENT_TYPE: component, OTEL_COMPONENT_NAME: f"{component}/{next(_exporter_numbers)}"}

    def _record_status(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._status = response.status_code

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # The processor exports from one thread at a time (its export lock).
        self._status = None
        result = self._exporter.export(spans)
        if result is SpanExportResult.SUCCESS:
            self._exported.add(len(spans), self._attributes)
        else:
            error = str(self._status) if self._status is not None else ErrorTypeValues.OTHER.value
            self._exported.add(len(spans), {**self._attributes, ERROR_TYPE: error})
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
