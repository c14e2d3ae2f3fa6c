"""The kit's /metrics is the contract, exactly: scraped, parsed by prometheus_client, compared both ways."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from examples.gateway.otlp_receiver import OtlpReceiver
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from gateway_telemetry import contract, tracing
from gateway_telemetry.metrics import ServiceMetrics

KIT_SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
# What Prometheus 3 sends by default (scrape_protocols OpenMetricsText1.0.0 first).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
LATENCY_HISTOGRAMS = (
    "http_server_request_duration_seconds",
    "gen_ai_client_operation_duration_seconds",
    "gateway_llm_time_to_first_token_seconds",
    "gen_ai_client_operation_time_to_first_chunk_seconds",
)


@pytest.fixture(autouse=True)
def _clean_otel_environment(monkeypatch):
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.shutdown_tracing()


def exercise(metrics: ServiceMetrics) -> str:
    """Record one sample in every metric the service has, inside a sampled span; return its trace id."""
    service = contract.service_contract(metrics.service)
    span = tracing.tracer("test").start_span("request")
    with tracing.trace.use_span(span, end_on_exit=True):
        metrics.observe_request(method="post", route="/v1/chat", status_code=200, error_type=None, seconds=0.3)
        metrics.request_started("post")  # one still in flight
        if any(m.name.startswith("gen_ai_") for m in service.metrics):
            metrics.observe_llm_call(
                operation="chat", provider="openai", model="gpt-4o", seconds=1.2, input_tokens=12,
                output_tokens=40, cost_usd=0.002, time_to_first_token=0.15, time_per_output_token=0.02,
            )
        for metric in service.metrics:
            if metric.type == "counter" and metric.name != "gateway_llm_cost_usd_total":
                metrics.count(metric.name, 2, **{label: "x" for label in metric.labels})
    return format(span.get_span_context().trace_id, "032x")


def scraped(body: bytes, content_type: str) -> dict[str, dict]:
    """Each family of a scrape: type, label names, bucket bounds, help, series names."""
    parse = parse_openmetrics if content_type.startswith("application/openmetrics-text") else parse_text
    families = {}
    for family in parse(body.decode()):
        # The parsers strip a counter's `_total`; Prometheus stores it with.
        name = f"{family.name}_total" if family.type == "counter" else family.name
        families[name] = {
            "type": family.type,
            "labels": frozenset(k for s in family.samples for k in s.labels if k != "le"),
            "buckets": tuple(sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})),
            "help": family.documentation,
            "series": frozenset(s.name for s in family.samples),
            "samples": family.samples,
        }
    return families


def expected(service: str) -> dict[str, contract.Metric]:
    return {m.name: m for m in (*contract.service_contract(service).metrics, *contract.KIT_METRICS)}


@pytest.fixture
def live_metrics(request):
    """ServiceMetrics of a service with tracing exported over real OTLP/HTTP, every metric exercised."""
    service = request.param
    with OtlpReceiver() as receiver:
        request.getfixturevalue("monkeypatch").setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        metrics = ServiceMetrics(service)
        provider = tracing.configure_tracing(service=service, environment="test", version="1.2.3", metrics=metrics)
        trace_id = exercise(metrics)
        provider.force_flush()
        receiver.wait_for_spans(1)
        yield metrics, trace_id


@pytest.mark.parametrize("live_metrics", KIT_SERVICES, indirect=True)
@pytest.mark.parametrize("accept", ["text/plain;version=0.0.4", OPENMETRICS], ids=["text", "openmetrics"])
def test_exposition_is_exactly_the_contract(live_metrics, accept):
    metrics, _ = live_metrics
    families = scraped(*metrics.exposition(accept))
    wanted = expected(metrics.service)

    assert sorted(families) == sorted(wanted), "metric names differ from the contract"
    for name, metric in wanted.items():
        family = families[name]
        assert family["type"] == metric.type, name
        assert family["help"] == metric.help, name
        assert family["labels"] == frozenset(metric.labels), f"{name}: labels differ from the contract"
        assert family["series"] == frozenset(metric.series_names()), f"{name}: series names differ (no _created)"
        if metric.type == "histogram":
            bounds = (*contract.KIT_HISTOGRAM_BUCKETS[name], float("inf"))
            assert family["buckets"] == tuple(float(b) for b in bounds), f"{name}: buckets differ from the contract"


@pytest.mark.parametrize("live_metrics", ["unified-llm-api"], indirect=True)
def test_latency_histograms_carry_the_trace_id_as_exemplar_in_openmetrics(live_metrics):
    metrics, trace_id = live_metrics
    body, content_type = metrics.exposition(PROMETHEUS_ACCEPT)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = scraped(body, content_type)

    for name in LATENCY_HISTOGRAMS:
        exemplars = [s.exemplar for s in families[name]["samples"] if s.exemplar is not None]
        assert len(exemplars) == 1, name
        assert exemplars[0].labels == {"trace_id": trace_id}
        assert re.fullmatch(r"[0-9a-f]{32}", exemplars[0].labels["trace_id"])
    assert all(s.exemplar is None for s in families["gen_ai_client_token_usage"]["samples"]), "tokens are not latency"


@pytest.mark.parametrize("live_metrics", ["unified-llm-api"], indirect=True)
def test_plain_text_scrape_has_no_exemplars(live_metrics):
    metrics, _ = live_metrics
    body, content_type = metrics.exposition("")
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"trace_id" not in body and b"# EOF" not in body


def test_span_pipeline_families_are_exposed_even_before_tracing_is_configured():
    families = scraped(*ServiceMetrics("optimization-service").exposition(OPENMETRICS))
    for metric in contract.KIT_METRICS:
        assert families[metric.name]["type"] == metric.type
        assert families[metric.name]["samples"] == []


def test_no_exemplar_outside_a_sampled_span():
    metrics = ServiceMetrics("unified-llm-api")
    metrics.observe_request(method="GET", route="/health", status_code=200, error_type=None, seconds=0.01)
    body, content_type = metrics.exposition(OPENMETRICS)
    assert all(s.exemplar is None for s in scraped(body, content_type)["http_server_request_duration_seconds"]["samples"])


def test_spans_exported_in_memory_are_counted_by_the_processor_but_not_the_exporter():
    metrics = ServiceMetrics("intelligent-router")
    provider = tracing.configure_tracing(
        service="intelligent-router", environment="test", version="1", metrics=metrics, exporter=InMemorySpanExporter()
    )
    for _ in range(3):
        tracing.tracer("test").start_span("decide").end()
    provider.force_flush()
    families = scraped(*metrics.exposition(OPENMETRICS))
    processed = {s.labels["error_type"]: s.value for s in families["otel_sdk_processor_span_processed_total"]["samples"]}
    assert processed == {"": 3.0}
    assert families["otel_sdk_exporter_span_exported_total"]["samples"] == []


def test_each_registry_holds_only_its_own_service(monkeypatch):
    registry = CollectorRegistry()
    ServiceMetrics("intelligent-router", registry=registry)
    families = scraped(*ServiceMetrics("optimization-service").exposition(""))
    assert "gateway_router_decisions_total" not in families


@pytest.mark.parametrize("service", ["kong", "billing", ""])
def test_services_the_kit_does_not_instrument_are_refused(service):
    with pytest.raises(ValueError) as caught:
        ServiceMetrics(service)
    assert str(caught.value) == (
        f"service: given {service!r}; the kit instruments unified-llm-api, intelligent-router, optimization-service"
    )


def test_count_refuses_a_metric_the_service_does_not_have():
    metrics = ServiceMetrics("intelligent-router")
    with pytest.raises(ValueError) as caught:
        metrics.count("gateway_optimization_cache_hits_total", cache="semantic")
    assert str(caught.value) == (
        "metric: given 'gateway_optimization_cache_hits_total'; service 'intelligent-router' has no such counter "
        "in the contract; its counters: gateway_router_decisions_total, gateway_router_fallbacks_total"
    )


@pytest.mark.parametrize(
    "labels",
    [
        {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"},
        {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o", "reason": "cost", "user": "u1"},
    ],
    ids=["missing", "extra"],
)
def test_count_refuses_labels_other_than_the_contracts(labels):
    with pytest.raises(ValueError) as caught:
        ServiceMetrics("intelligent-router").count("gateway_router_decisions_total", **labels)
    assert "must be exactly (gen_ai_provider_name, gen_ai_request_model, reason)" in str(caught.value)


def test_count_refuses_a_negative_amount():
    with pytest.raises(ValueError, match=r"amount: given -1; a counter only grows, must be >= 0"):
        ServiceMetrics("optimization-service").count("gateway_optimization_cache_hits_total", -1, cache="semantic")


def test_llm_metrics_are_refused_on_a_service_without_them():
    with pytest.raises(ValueError, match=r"given 'gen_ai_client_operation_duration_seconds'; service 'optimization-service'"):
        ServiceMetrics("optimization-service").observe_llm_call(
            operation="chat", provider="openai", model="gpt-4o", seconds=1, input_tokens=1, output_tokens=1, cost_usd=0
        )


@pytest.mark.parametrize("trace_id", ["abc", "0" * 31 + "G", "A" * 32])
def test_a_malformed_trace_id_is_refused(trace_id):
    with pytest.raises(ValueError) as caught:
        ServiceMetrics("unified-llm-api").observe_request(
            method="GET", route="/", status_code=200, error_type=None, seconds=0.1, trace_id=trace_id
        )
    assert str(caught.value) == f"trace_id: given {trace_id!r}; must be 32 lower-case hex digits (W3C trace id)"


def test_failed_llm_call_records_duration_with_error_type_and_no_tokens():
    metrics = ServiceMetrics("unified-llm-api")
    metrics.observe_llm_call(
        operation="chat", provider="anthropic", model="claude", seconds=30, input_tokens=None, output_tokens=None,
        cost_usd=None, error_type="timeout",
    )
    families = scraped(*metrics.exposition(OPENMETRICS))
    counts = [s for s in families["gen_ai_client_operation_duration_seconds"]["samples"] if s.name.endswith("_count")]
    assert [(s.labels["error_type"], s.value) for s in counts] == [("timeout", 1.0)]
    assert families["gen_ai_client_token_usage"]["samples"] == []
    assert families["gateway_llm_cost_usd_total"]["samples"] == []


def test_requests_in_flight_go_up_and_back_down():
    metrics = ServiceMetrics("intelligent-router")

    def in_flight() -> float:
        return metrics.registry.get_sample_value("http_server_active_requests", {"http_request_method": "POST"})

    metrics.request_started("post")
    metrics.request_started("POST")
    assert in_flight() == 2
    metrics.request_finished("post")
    metrics.request_finished("post")
    assert in_flight() == 0


@pytest.mark.parametrize("scheme, label", [("http", "http"), ("https", "https"), ("HTTPS, http", "_OTHER"), ("ws", "_OTHER")])
def test_the_url_scheme_label_is_http_https_or_other(scheme, label):
    """A trusted proxy's X-Forwarded-Proto reaches the ASGI scope as sent (uvicorn's proxy headers)."""
    metrics = ServiceMetrics("intelligent-router")
    metrics.observe_request(method="get", route="/r", status_code=200, error_type=None, seconds=0.1, scheme=scheme)
    (count,) = [s for s in scraped(*metrics.exposition(OPENMETRICS))["http_server_request_duration_seconds"]["samples"]
                if s.name.endswith("_count")]
    assert count.labels["url_scheme"] == label


@pytest.mark.parametrize(
    "given, name",
    [
        ("openai", "openai"), ("OpenAI", "openai"), ("Anthropic", "anthropic"), ("bedrock", "aws.bedrock"),
        ("AWS Bedrock", "aws.bedrock"), ("azure-openai", "azure.ai.openai"), ("gemini", "gcp.gemini"),
        ("vertex-ai", "gcp.vertex_ai"), ("google", "gcp.gen_ai"), ("Mistral", "mistral_ai"), ("xAI", "x_ai"),
        ("grok", "x_ai"), ("watsonx", "ibm.watsonx.ai"), ("Moonshot", "moonshot_ai"), ("Groq", "groq"),
        # Not one of the conventions' providers: kept as given (a custom value).
        ("openrouter", "openrouter"), ("Together AI", "Together AI"),
    ],
)
def test_providers_are_named_as_the_genai_conventions_name_them(given, name):
    metrics = ServiceMetrics("unified-llm-api")
    metrics.observe_llm_call(
        operation="chat", provider=given, model="m", seconds=1, input_tokens=1, output_tokens=1, cost_usd=0.1,
    )
    metrics.count("gateway_llm_fallback_exhausted_total", gen_ai_provider_name=given, error_source="provider")
    families = scraped(*metrics.exposition(OPENMETRICS))
    for family in ("gen_ai_client_operation_duration_seconds", "gateway_llm_cost_usd_total", "gateway_llm_fallback_exhausted_total"):
        assert {s.labels["gen_ai_provider_name"] for s in families[family]["samples"]} == {name}


def test_time_to_first_chunk_is_in_the_conventions_buckets_and_the_slo_metric_in_its_own():
    metrics = ServiceMetrics("unified-llm-api")
    metrics.observe_llm_call(
        operation="chat", provider="openai", model="m", seconds=3, input_tokens=1, output_tokens=9, cost_usd=None,
        time_to_first_token=0.7,
    )
    families = scraped(*metrics.exposition(OPENMETRICS))
    # gen_ai.client.operation.time_to_first_chunk's ExplicitBucketBoundaries
    # (semantic-conventions-genai, docs/gen-ai/gen-ai-metrics.md), +Inf added.
    assert families["gen_ai_client_operation_time_to_first_chunk_seconds"]["buckets"] == (
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, float("inf"),
    )
    # The SLO's metric has 0.5, 1.0 and 2.5 s bounds, where thresholds are set.
    assert {0.5, 1.0, 2.5} <= set(families["gateway_llm_time_to_first_token_seconds"]["buckets"])
    for family in ("gen_ai_client_operation_time_to_first_chunk_seconds", "gateway_llm_time_to_first_token_seconds"):
        (count,) = [s for s in families[family]["samples"] if s.name.endswith("_count")]
        (total,) = [s for s in families[family]["samples"] if s.name.endswith("_sum")]
        assert (count.value, total.value) == (1, 0.7)
