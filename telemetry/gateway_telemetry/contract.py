"""The telemetry contract with the gateway: what each service exposes.

Scrape configs, recording and alert rules, dashboards, the Promtail pipeline
and the generated reference pages (docs/reference/) read this; a test fails when any query names a metric that is
not here. Names follow Kong's prometheus plugin and the OpenTelemetry HTTP and
GenAI semantic conventions as Prometheus stores them; what the gateway needs
beyond them uses the `gateway_` prefix in the same style.

Label cardinality is bounded by design: no user, API key, request or trace id
is ever a label (those go to logs and exemplars).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # as Prometheus stores it (histograms: without _bucket/_sum/_count)
    type: str  # counter | gauge | histogram
    unit: str
    labels: tuple[str, ...]
    help: str

    def series_names(self) -> tuple[str, ...]:
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


@dataclass(frozen=True)
class ServiceContract:
    name: str
    description: str
    metrics: tuple[Metric, ...]


# Kong's own `service` label collides with the `service` target label every
# scrape adds, so Prometheus stores Kong's as `exported_service` (the Kong
# service, i.e. the upstream API). The catalog lists labels as stored.
_KONG_ROUTE = ("exported_service", "route", "workspace")
_KONG_AI = ("ai_provider", "ai_model", "cache_status", "vector_db", "embeddings_provider", "embeddings_model", "workspace")

KONG = ServiceContract(
    "kong",
    "Kong Gateway, prometheus plugin with every metric group on (status codes, latency, bandwidth, upstream health, AI)",
    (
        Metric("kong_http_requests_total", "counter", "requests", (*_KONG_ROUTE, "code", "source"), "HTTP requests by status code"),
        Metric("kong_request_latency_ms", "histogram", "ms", _KONG_ROUTE, "Total request latency seen by Kong"),
        Metric("kong_upstream_latency_ms", "histogram", "ms", _KONG_ROUTE, "Time the upstream took to answer"),
        Metric("kong_kong_latency_ms", "histogram", "ms", _KONG_ROUTE, "Time spent in Kong itself (plugins, routing)"),
        Metric("kong_bandwidth_bytes", "counter", "bytes", (*_KONG_ROUTE, "direction"), "Bytes in and out"),
        Metric("kong_upstream_target_health", "gauge", "1", ("upstream", "target", "address", "state", "subsystem"), "1 for the target's current health state"),
        Metric("kong_ai_llm_requests_total", "counter", "requests", _KONG_AI, "AI proxy requests per provider and model"),
        Metric("kong_ai_llm_tokens_total", "counter", "tokens", (*_KONG_AI, "token_type"), "Tokens per provider, model and type"),
        Metric("kong_ai_llm_cost_total", "counter", "USD", _KONG_AI, "Cost of AI requests as Kong prices them"),
        Metric("kong_ai_llm_provider_latency_ms", "histogram", "ms", _KONG_AI, "LLM provider latency seen by Kong"),
    ),
)

# OpenTelemetry HTTP server semantic conventions, as every FastAPI service exports them.
_HTTP_SERVER = Metric(
    "http_server_request_duration_seconds",
    "histogram",
    "s",
    ("http_request_method", "url_scheme", "http_route", "http_response_status_code", "error_type"),
    "Duration of HTTP server requests (OTel http.server.request.duration)",
)
# What a failed request is, for every rule, SLI and panel that counts
# failures (one definition): the kit sets error_type on every request that
# failed, whatever its status line said: a 5xx (error_type is the status, as
# OTel's error.type for HTTP servers), an exception before the response (the
# exception's class, with the status the client received), and a stream that
# broke after its 200 header (the exception's class, status 200). A client's
# own 4xx has no error_type.
FAILED_REQUEST_MATCHER = 'error_type!=""'
# OTel http.server.active_requests: requests being served now (an UpDownCounter, a gauge to Prometheus).
_HTTP_ACTIVE = Metric(
    "http_server_active_requests",
    "gauge",
    "requests",
    ("http_request_method",),
    "Requests the service is serving now (OTel http.server.active_requests)",
)
_GEN_AI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")

UNIFIED_LLM_API = ServiceContract(
    "unified-llm-api",
    "Unified LLM API: one API in front of every provider",
    (
        _HTTP_SERVER,
        _HTTP_ACTIVE,
        Metric(
            "gen_ai_client_operation_duration_seconds",
            "histogram",
            "s",
            (*_GEN_AI, "error_type", "error_source"),
            "Duration of LLM calls; error_type and error_source (errors.ERROR_SOURCES) are set when the call failed "
            "(OTel gen_ai.client.operation.duration)",
        ),
        Metric(
            "gen_ai_client_token_usage",
            "histogram",
            "tokens",
            (*_GEN_AI, "gen_ai_token_type"),
            "Tokens per call, gen_ai_token_type input|output (OTel gen_ai.client.token.usage)",
        ),
        Metric(
            "gateway_llm_time_to_first_token_seconds",
            "histogram",
            "s",
            _GEN_AI,
            "Time from request to the first streamed token, in the SLO's buckets (the alerts and boards read this one)",
        ),
        Metric(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "histogram",
            "s",
            _GEN_AI,
            "Time from request to the first chunk of a streamed call, in the conventions' buckets "
            "(OTel gen_ai.client.operation.time_to_first_chunk)",
        ),
        Metric(
            "gateway_llm_time_per_output_token_seconds",
            "histogram",
            "s",
            _GEN_AI,
            "Time per output token after the first, of successful streamed calls (OTel gen_ai.server.time_per_output_token)",
        ),
        Metric(
            "gateway_llm_fallback_exhausted_total",
            "counter",
            "requests",
            ("gen_ai_provider_name", "error_source"),
            "Requests whose every provider failed (the first and the router's fallbacks), by the last provider tried and why",
        ),
        Metric(
            "gateway_llm_cost_usd_total",
            "counter",
            "USD",
            ("gen_ai_provider_name", "gen_ai_request_model"),
            "Spend on LLM calls in US dollars",
        ),
    ),
)

INTELLIGENT_ROUTER = ServiceContract(
    "intelligent-router",
    "Intelligent Router: picks the provider and model for each request",
    (
        _HTTP_SERVER,
        _HTTP_ACTIVE,
        Metric(
            "gateway_router_decisions_total",
            "counter",
            "decisions",
            ("gen_ai_provider_name", "gen_ai_request_model", "reason"),
            "Routing decisions by chosen provider, model and reason (cost, latency, quality, pinned)",
        ),
        Metric(
            "gateway_router_fallbacks_total",
            "counter",
            "fallbacks",
            ("from_provider", "to_provider", "reason"),
            "Requests re-routed to another provider, by reason (error, timeout, rate_limit, budget)",
        ),
    ),
)

OPTIMIZATION_SERVICE = ServiceContract(
    "optimization-service",
    "Optimization Service: semantic cache and prompt optimisation",
    (
        _HTTP_SERVER,
        _HTTP_ACTIVE,
        Metric("gateway_optimization_cache_hits_total", "counter", "requests", ("cache",), "Requests answered from the cache"),
        Metric("gateway_optimization_cache_misses_total", "counter", "requests", ("cache",), "Requests the cache could not answer"),
        Metric(
            "gateway_optimization_tokens_saved_total",
            "counter",
            "tokens",
            ("gen_ai_request_model", "technique"),
            "Tokens not sent to a provider thanks to caching or prompt compression",
        ),
    ),
)

GATEWAY_SERVICES = (KONG, UNIFIED_LLM_API, INTELLIGENT_ROUTER, OPTIMIZATION_SERVICE)

# What every service instrumented with the kit exposes besides its own
# metrics: the OpenTelemetry SDK's span pipeline, named by the OTel semantic
# conventions for SDK self-observability (otel.sdk.processor.span.*,
# otel.sdk.exporter.span.exported), so dropped spans are seen, not hidden.
_SDK_COMPONENT = ("otel_component_type", "otel_component_name")
KIT_METRICS = (
    Metric("otel_sdk_processor_span_queue_size", "gauge", "spans", _SDK_COMPONENT, "Spans waiting in the batch processor's queue"),
    Metric("otel_sdk_processor_span_queue_capacity", "gauge", "spans", _SDK_COMPONENT, "Most spans the batch processor's queue holds"),
    Metric(
        "otel_sdk_processor_span_processed_total",
        "counter",
        "spans",
        (*_SDK_COMPONENT, "error_type"),
        "Spans the batch processor handed on; error_type=queue_full counts spans dropped because the queue was full",
    ),
    Metric(
        "otel_sdk_exporter_span_exported_total",
        "counter",
        "spans",
        (*_SDK_COMPONENT, "error_type"),
        "Spans the OTLP exporter sent; error_type set when the export failed",
    ),
)

_SPAN_METRICS = ("service_name", "span_name", "span_kind", "status_code")

# The stack's own metrics that its rules and dashboards use, by component.
STACK_METRICS = {
    "prometheus": (
        Metric("prometheus_rule_evaluation_failures_total", "counter", "1", ("rule_group",), "Failed rule evaluations"),
        Metric("prometheus_config_last_reload_successful", "gauge", "1", (), "1 if the last config reload succeeded"),
        Metric("prometheus_tsdb_head_series", "gauge", "series", (), "Series in the head block"),
        Metric("prometheus_tsdb_head_samples_appended_total", "counter", "samples", ("type",), "Samples written to the head block"),
        Metric("prometheus_tsdb_lowest_timestamp_seconds", "gauge", "s", (), "Time of the oldest sample kept"),
        Metric("prometheus_tsdb_storage_blocks_bytes", "gauge", "bytes", (), "Bytes of the persisted blocks"),
        Metric("prometheus_notifications_errors_total", "counter", "1", ("alertmanager",), "Errors sending alerts"),
        Metric("prometheus_notifications_alertmanagers_discovered", "gauge", "1", (), "Alertmanagers Prometheus sends to"),
    ),
    "alertmanager": (
        Metric("alertmanager_notifications_total", "counter", "1", ("integration",), "Notifications attempted"),
        Metric("alertmanager_notifications_failed_total", "counter", "1", ("integration", "reason"), "Notifications that failed"),
        Metric("alertmanager_cluster_members", "gauge", "1", (), "Members this peer sees in the gossip cluster"),
    ),
    "loki": (
        Metric("loki_request_duration_seconds", "histogram", "s", ("method", "route", "status_code", "ws"), "Loki request durations"),
        Metric("loki_distributor_lines_received_total", "counter", "lines", ("tenant",), "Log lines received"),
    ),
    "promtail": (
        Metric("promtail_sent_entries_total", "counter", "entries", ("host",), "Entries sent to Loki"),
        Metric("promtail_dropped_entries_total", "counter", "entries", ("host", "reason"), "Entries dropped after retries"),
        Metric("promtail_request_duration_seconds", "histogram", "s", ("host", "status_code"), "Push request durations"),
        # Kubernetes only: lines a drop stage dropped (the age limit's reason, log_shipping.py).
        Metric("logentry_dropped_lines_total", "counter", "lines", ("reason",), "Lines a pipeline stage dropped"),
        Metric("process_start_time_seconds", "gauge", "s", (), "When the Promtail process started (Unix time)"),
    ),
    "jaeger": (
        Metric("otelcol_receiver_accepted_spans_total", "counter", "spans", ("receiver", "transport"), "Spans accepted"),
        Metric("otelcol_receiver_refused_spans_total", "counter", "spans", ("receiver", "transport"), "Spans refused"),
        Metric("otelcol_exporter_sent_spans_total", "counter", "spans", ("exporter",), "Spans written to storage"),
        Metric("otelcol_exporter_send_failed_spans_total", "counter", "spans", ("exporter",), "Spans that failed to be written"),
        # Service Performance Monitoring: the spanmetrics connector, read back by Jaeger's Monitor tab.
        Metric("traces_span_metrics_calls_total", "counter", "calls", _SPAN_METRICS, "Spans by service, operation and status"),
        Metric("traces_span_metrics_duration_milliseconds", "histogram", "ms", _SPAN_METRICS, "Span durations"),
    ),
    "grafana": (),
}

# The cluster's own series (Kubernetes only), which the cluster alerts read.
# Names and labels from their sources: kube-state-metrics v2.20.0
# internal/store/{pod,statefulset,deployment,daemonset,persistentvolumeclaim}.go;
# the kubelet's pkg/kubelet/metrics/collectors/volume_stats.go; cAdvisor's
# docs/storage/prometheus.md (v0.60.5).
_POD = ("namespace", "pod", "uid", "container")
_PVC = ("namespace", "persistentvolumeclaim")
CLUSTER_METRICS = (
    Metric("kube_pod_container_status_waiting_reason", "gauge", "1", (*_POD, "reason"), "1 while the container waits, by reason"),
    Metric("kube_pod_container_status_restarts_total", "counter", "restarts", _POD, "Container restarts"),
    Metric("kube_pod_container_status_last_terminated_reason", "gauge", "1", (*_POD, "reason"), "Why the container last terminated"),
    Metric("kube_statefulset_replicas", "gauge", "pods", ("namespace", "statefulset"), "Desired replicas"),
    Metric("kube_statefulset_status_replicas_ready", "gauge", "pods", ("namespace", "statefulset"), "Ready replicas"),
    Metric("kube_statefulset_status_replicas_updated", "gauge", "pods", ("namespace", "statefulset"), "Replicas at the current revision"),
    Metric("kube_deployment_spec_replicas", "gauge", "pods", ("namespace", "deployment"), "Desired replicas"),
    Metric("kube_deployment_status_replicas_available", "gauge", "pods", ("namespace", "deployment"), "Available replicas"),
    Metric("kube_deployment_status_replicas_updated", "gauge", "pods", ("namespace", "deployment"), "Updated replicas"),
    Metric("kube_daemonset_status_desired_number_scheduled", "gauge", "pods", ("namespace", "daemonset"), "Nodes that should run a pod"),
    Metric("kube_daemonset_status_current_number_scheduled", "gauge", "pods", ("namespace", "daemonset"), "Nodes running a pod"),
    Metric("kube_persistentvolumeclaim_access_mode", "gauge", "1", (*_PVC, "access_mode"), "The claim's access modes"),
    Metric("kubelet_volume_stats_available_bytes", "gauge", "bytes", _PVC, "Free bytes of a mounted volume"),
    Metric("kubelet_volume_stats_capacity_bytes", "gauge", "bytes", _PVC, "Capacity of a mounted volume"),
    Metric("kubelet_volume_stats_used_bytes", "gauge", "bytes", _PVC, "Used bytes of a mounted volume"),
    Metric("container_cpu_cfs_periods_total", "counter", "periods", ("namespace", "pod", "container"), "CFS periods elapsed"),
    Metric("container_cpu_cfs_throttled_periods_total", "counter", "periods", ("namespace", "pod", "container"), "CFS periods throttled"),
)

# Series every scrape produces, whatever the target.
SCRAPE_METRICS = (
    Metric("up", "gauge", "1", (), "1 if the last scrape succeeded"),
    Metric("scrape_duration_seconds", "gauge", "s", (), "Duration of the last scrape"),
)

# Labels Prometheus adds to every series of a target (scrape config).
TARGET_LABELS = ("job", "instance", "service", "environment", "cluster")


# Histogram buckets are part of the contract: a latency SLO threshold must be
# one of them, or the SLI cannot be computed exactly. Deliberately not the
# HTTP conventions' advice for http.server.request.duration (0.005 s to 10 s,
# http-metrics.md): an LLM request takes seconds and a stream up to minutes,
# so the bounds reach 120 s, and each latency threshold the settings accept
# (stack/settings) is one of them.
HTTP_SERVER_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
# Kong's prometheus plugin defaults, in milliseconds.
KONG_LATENCY_BUCKETS_MS = (1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 30000, 60000)
# The OTel GenAI semantic conventions' recommended ExplicitBucketBoundaries
# (gen-ai-metrics.md; the same lists as opentelemetry-python-contrib's
# openai-v2 instrumentation), so the gateway's histograms line up with any
# GenAI-instrumented client. Each is 14 bounds; one histogram series costs
# bounds + 3 samples (+Inf, _sum, _count) per label set: bench/kit_metrics.py.
GEN_AI_OPERATION_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GEN_AI_TOKEN_USAGE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
# gen_ai.server.time_to_first_token's recommended bounds (1 ms to 10 s, dense
# below 100 ms where streaming UX is decided), deliberately for the
# gateway's own client-side metric: a time-to-first-token SLO threshold
# (2.5 s by default, 0.5 s or 1 s where a team wants it tighter) is a bound
# here and falls between the client metric's doubling bounds (0.32, 0.64,
# 1.28, 2.56), where no SLI is exact. The
# conventions' client metric, gen_ai_client_operation_time_to_first_chunk_seconds,
# is exposed beside it with its own bounds for GenAI-aware tools.
GEN_AI_TIME_TO_FIRST_TOKEN_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# gen_ai.server.time_per_output_token's recommended bounds (gen-ai-metrics.md).
GEN_AI_TIME_PER_OUTPUT_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
# The buckets of every histogram the kit exposes, by metric name.
KIT_HISTOGRAM_BUCKETS = {
    "http_server_request_duration_seconds": HTTP_SERVER_DURATION_BUCKETS,
    "gen_ai_client_operation_duration_seconds": GEN_AI_OPERATION_DURATION_BUCKETS,
    "gen_ai_client_token_usage": GEN_AI_TOKEN_USAGE_BUCKETS,
    "gateway_llm_time_to_first_token_seconds": GEN_AI_TIME_TO_FIRST_TOKEN_BUCKETS,
    # gen_ai.client.operation.time_to_first_chunk: the same bounds as the
    # operation duration (semantic-conventions-genai, docs/gen-ai/gen-ai-metrics.md).
    "gen_ai_client_operation_time_to_first_chunk_seconds": GEN_AI_OPERATION_DURATION_BUCKETS,
    "gateway_llm_time_per_output_token_seconds": GEN_AI_TIME_PER_OUTPUT_TOKEN_BUCKETS,
}


def latency_buckets_seconds(service: str) -> tuple[float, ...]:
    """Kong measures in ms with its own buckets; every other service follows the OTel contract."""
    if service == KONG.name:
        return tuple(ms / 1000 for ms in KONG_LATENCY_BUCKETS_MS)
    return HTTP_SERVER_DURATION_BUCKETS


def service_contract(name: str) -> ServiceContract | None:
    return next((s for s in GATEWAY_SERVICES if s.name == name), None)


def all_metrics() -> tuple[Metric, ...]:
    seen: dict[str, Metric] = {}
    for metric in (
        *SCRAPE_METRICS,
        *(m for s in GATEWAY_SERVICES for m in s.metrics),
        *KIT_METRICS,
        *(m for ms in STACK_METRICS.values() for m in ms),
        *CLUSTER_METRICS,
    ):
        seen.setdefault(metric.name, metric)
    return tuple(seen.values())


def known_series_names() -> frozenset[str]:
    """Every series name a query may use."""
    return frozenset(n for m in all_metrics() for n in m.series_names())


def labels_of(series_name: str) -> frozenset[str]:
    """Labels a stored series can carry: its own, the target's and, for buckets, `le`."""
    for metric in all_metrics():
        if series_name in metric.series_names():
            extra = ("le",) if series_name.endswith("_bucket") else ()
            return frozenset((*metric.labels, *TARGET_LABELS, *extra))
    raise KeyError(series_name)


@dataclass(frozen=True)
class LogField:
    name: str  # key in the JSON log line
    meaning: str
    # label: indexed, low cardinality | metadata: structured metadata, filterable
    # without parsing | line: kept in the line, read with `| json`
    stored_as: str


# The JSON fields every gateway service writes, one object per line: the kit
# writes exactly these (plus fields a call adds), the Promtail pipeline parses
# them. Names follow the OTel conventions where they have one.
LOG_FIELDS = (
    LogField("timestamp", "UTC time, ISO 8601 with microseconds (`2026-11-30T12:00:00.123456Z`); becomes the entry's time", "line"),
    LogField("level", "debug, info, warning, error or critical (any case; stored lower case)", "label"),
    LogField("service", "the service name, as in gatewayServices (the label comes from the container)", "line"),
    LogField("environment", "deployment environment (dev, staging, prod)", "line"),
    LogField("version", "the service's version", "line"),
    LogField("logger", "name of the logger that wrote the line (`uvicorn.error`, `gateway.access`)", "line"),
    LogField("message", "what happened", "line"),
    LogField("request_id", "the gateway request id (X-Request-ID)", "metadata"),
    LogField("trace_id", "W3C trace id, 32 hex digits: the link to Jaeger", "metadata"),
    LogField("span_id", "W3C span id, 16 hex digits", "metadata"),
    LogField("provider", "LLM provider (gen_ai.provider.name): openai, anthropic, ...", "label"),
    LogField("model", "requested model (gen_ai.request.model)", "metadata"),
    LogField("method", "HTTP method of access-log lines", "line"),
    LogField("path", "HTTP path of access-log lines (health checks are dropped)", "line"),
    LogField("status", "HTTP status code of the request", "line"),
    LogField("latency_ms", "request duration in milliseconds", "line"),
    LogField("input_tokens", "input tokens of the LLM call (gen_ai.usage.input_tokens)", "line"),
    LogField("output_tokens", "output tokens of the LLM call (gen_ai.usage.output_tokens)", "line"),
    LogField("cost_usd", "cost of the LLM call in US dollars", "line"),
    LogField("error_type", "exception class or provider error code when something failed (error.type)", "line"),
    LogField("error_source", "where it failed: provider, internal, client, timeout or rate_limit", "line"),
    LogField("upstream_status", "HTTP status the LLM provider answered, on provider errors", "line"),
)
# gen_ai.provider.name's well-known values (semantic-conventions-genai,
# docs/gen-ai/gen-ai-metrics.md): "If one of them applies, then the
# respective value MUST be used; otherwise, a custom value MAY be used."
WELL_KNOWN_PROVIDERS = (
    "anthropic", "aws.bedrock", "azure.ai.inference", "azure.ai.openai", "cohere", "deepseek", "gcp.gemini",
    "gcp.gen_ai", "gcp.vertex_ai", "groq", "ibm.watsonx.ai", "mistral_ai", "moonshot_ai", "openai", "perplexity", "x_ai",
)
# What services call them instead (lower case, `-` and spaces as `_`).
# "google" is gcp.gen_ai: the conventions' value when the Google backend is
# not known (Gemini's AI Studio API is gcp.gemini, Vertex AI gcp.vertex_ai).
PROVIDER_ALIASES = {
    "bedrock": "aws.bedrock", "aws_bedrock": "aws.bedrock", "amazon_bedrock": "aws.bedrock",
    "azure_openai": "azure.ai.openai", "azure": "azure.ai.openai", "azure_ai_inference": "azure.ai.inference",
    "gemini": "gcp.gemini", "google_ai_studio": "gcp.gemini", "google": "gcp.gen_ai", "google_genai": "gcp.gen_ai",
    "vertex": "gcp.vertex_ai", "vertex_ai": "gcp.vertex_ai", "vertexai": "gcp.vertex_ai", "google_vertex_ai": "gcp.vertex_ai",
    "watsonx": "ibm.watsonx.ai", "ibm_watsonx": "ibm.watsonx.ai", "watsonx_ai": "ibm.watsonx.ai",
    "mistral": "mistral_ai", "mistralai": "mistral_ai", "moonshot": "moonshot_ai", "kimi": "moonshot_ai",
    "xai": "x_ai", "grok": "x_ai", "x.ai": "x_ai", "pplx": "perplexity",
}


def provider_name(provider: str) -> str:
    """`gen_ai.provider.name` for what a service calls its provider: the
    conventions' well-known value where one applies ("Bedrock" ->
    "aws.bedrock", "OpenAI" -> "openai"), else `provider` unchanged (a
    custom value, such as "openrouter")."""
    provider = provider if isinstance(provider, str) else str(provider)
    key = provider.strip().lower().replace("-", "_").replace(" ", "_")
    if key in WELL_KNOWN_PROVIDERS:
        return key
    return PROVIDER_ALIASES.get(key, provider)


ERROR_SOURCES = ("provider", "internal", "client", "timeout", "rate_limit")
# Every label a log stream carries: the JSON fields stored as labels, plus
# `service` (from the container), `environment` (Promtail's client) and
# `stream` (the container's stdout or stderr).
LOG_LABELS = ("service", "level", "provider", "environment", "stream")
