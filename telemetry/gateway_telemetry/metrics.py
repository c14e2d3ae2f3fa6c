"""The contract's Prometheus metrics for one gateway service, on its own registry.

`ServiceMetrics(service)` builds exactly the metrics `contract.service_contract`
lists for that service (names, types, label names, `contract.KIT_HISTOGRAM_BUCKETS`)
plus `contract.KIT_METRICS` (the OTel SDK's span pipeline, fed by
`tracing.configure_tracing`), and nothing else: no process or platform
collectors, no `_created` series. `exposition(accept)` answers a scrape in the
Prometheus text format, or in OpenMetrics when the scraper asks for it; only
OpenMetrics carries the trace-id exemplars the latency histograms record.

Under several worker processes the metrics live in prometheus_client's
multiprocess files and a scrape sums every worker's (workers.py says when
and why); prometheus_client keeps no exemplars there.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Callable, Iterable

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase, disable_created_metrics
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway_telemetry import workers
from gateway_telemetry.masking import mask_text
from gateway_telemetry.contract import (
    KIT_HISTOGRAM_BUCKETS,
    KIT_METRICS,
    KONG,
    GATEWAY_SERVICES,
    Metric,
    provider_name,
    service_contract,
)

# A span pipeline reading: (contract metric name, labels, value).
SpanPipelinePoint = tuple[str, dict[str, str], float]

_HTTP_DURATION = "http_server_request_duration_seconds"
_HTTP_ACTIVE = "http_server_active_requests"
_LLM_DURATION = "gen_ai_client_operation_duration_seconds"
_TOKEN_USAGE = "gen_ai_client_token_usage"
_TTFT = "gateway_llm_time_to_first_token_seconds"
_TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
_TPOT = "gateway_llm_time_per_output_token_seconds"
_LLM_COST = "gateway_llm_cost_usd_total"
_URL_SCHEMES = frozenset({"http", "https"})
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class ServiceMetrics:
    """The Prometheus metrics of one kit-instrumented service, exactly as the contract lists them.

    Args:
        service: a contract service the kit instruments (`unified-llm-api`,
            `intelligent-router`, `optimization-service`; Kong exports its own).
        registry: where to register; a fresh `CollectorRegistry` by default, so
            no process/platform collector and no other module's metric leaks into
            the scrape (the contract lists none).

    Raises:
        ValueError: the service is not one the kit instruments; or it runs
            under several workers without PROMETHEUS_MULTIPROC_DIR
            (workers.multiprocess_mode).

    Creating one calls prometheus_client's `disable_created_metrics()`, a
    process-wide switch: the contract has no `_created` series, and in the text
    format each would be one more series per counter and histogram.
    """

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        contract = service_contract(service)
        instrumented = [s.name for s in GATEWAY_SERVICES if s is not KONG]
        if contract is None or contract is KONG:
            raise ValueError(f"service: given {service!r}; the kit instruments {', '.join(instrumented)}")
        self.multiprocess = workers.multiprocess_mode()
        disable_created_metrics()
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        self._contract = {m.name: m for m in contract.metrics}
        # In multiprocess mode the values go to the shared files; a scrape
        # reads those, never this registry.
        own = None if self.multiprocess else self.registry
        self._metrics: dict[str, MetricWrapperBase] = {m.name: _build(m, own) for m in contract.metrics}
        self._span_pipeline: _SpanPipelineCollector | _SpanPipelineMirror
        if self.multiprocess:
            self._span_pipeline = _SpanPipelineMirror()
            atexit.register(workers.mark_this_process_dead)
        else:
            self._span_pipeline = _SpanPipelineCollector()
            self.registry.register(self._span_pipeline)
        # The labelled children of the per-request series, by label values:
        # prometheus_client's labels() validates and looks up on every call,
        # a third of what recording a request costs.
        self._request_children: dict[tuple, Histogram] = {}
        self._active_children: dict[str, Gauge] = {}

    def observe_request(
        self,
        *,
        method: str,
        route: str,
        status_code: int,
        error_type: str | None,
        seconds: float,
        trace_id: str | None = None,
        scheme: str = "http",
    ) -> None:
        """Record one served HTTP request in `http_server_request_duration_seconds`.

        `route` is the route template (`/v1/chat/{id}`), never the raw path, so
        cardinality stays bounded; `error_type` is None for a success. The
        exemplar's trace id defaults to the current OTel span's (see `exemplar`).
        `scheme` is the ASGI scope's, `url_scheme` on the series: "http" or
        "https", anything else "_OTHER" (a server may copy a proxy's
        X-Forwarded-Proto there; uvicorn 0.54 takes only http, https, ws and
        wss), so the label stays bounded.
        """
        scheme = scheme if scheme in _URL_SCHEMES else "_OTHER"
        key = (method, route, status_code, error_type, scheme)
        child = self._request_children.get(key)
        if child is None:
            child = self._histogram(_HTTP_DURATION).labels(
                http_request_method=method.upper(),
                url_scheme=scheme,
                http_route=route,
                http_response_status_code=str(status_code),
                error_type=error_type or "",
            )
            self._request_children[key] = child
        child.observe(seconds, exemplar=exemplar(trace_id))

    def _active(self, method: str) -> Gauge:
        child = self._active_children.get(method)
        if child is None:
            child = self._active_children[method] = self._gauge(_HTTP_ACTIVE).labels(http_request_method=method.upper())
        return child

    def request_started(self, method: str) -> None:
        """One more request in `http_server_active_requests` (until request_finished)."""
        self._active(method).inc()

    def request_finished(self, method: str) -> None:
        self._active(method).dec()

    def observe_llm_call(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        time_to_first_token: float | None = None,
        time_per_output_token: float | None = None,
        error_type: str | None = None,
        error_source: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        """Record one LLM call: duration, tokens (input and output), cost, time
        to first token (in the SLO's buckets and, as the conventions'
        time_to_first_chunk, in theirs) and time per output token. `provider`
        becomes the conventions' well-known name where one applies
        (contract.provider_name). `provider` and `model` may come from a
        client's request: they are masked (masking.mask_text) before they
        become label values.

        Units: seconds, tokens, US dollars. Token counts, cost and the
        streaming times that are None (a failed call, a call not streamed) are
        not recorded, as the GenAI conventions say for gen_ai.client.token.usage;
        `error_type` and `error_source` (errors.classify) are None for a success.

        Raises:
            ValueError: the service's contract has no LLM metrics.
        """
        provider, model = mask_text(provider_name(provider)), mask_text(model)
        gen_ai = {"gen_ai_operation_name": operation, "gen_ai_provider_name": provider, "gen_ai_request_model": model}
        example = exemplar(trace_id)
        self._histogram(_LLM_DURATION).labels(**gen_ai, error_type=error_type or "", error_source=error_source or "").observe(
            seconds, exemplar=example
        )
        for token_type, tokens in (("input", input_tokens), ("output", output_tokens)):
            if tokens is not None:
                self._histogram(_TOKEN_USAGE).labels(**gen_ai, gen_ai_token_type=token_type).observe(tokens)
        if time_to_first_token is not None:
            self._histogram(_TTFT).labels(**gen_ai).observe(time_to_first_token, exemplar=example)
            self._histogram(_TTFC).labels(**gen_ai).observe(time_to_first_token, exemplar=example)
        if time_per_output_token is not None:
            self._histogram(_TPOT).labels(**gen_ai).observe(time_per_output_token, exemplar=example)
        if cost_usd is not None:
            self._counter(_LLM_COST).labels(gen_ai_provider_name=provider, gen_ai_request_model=model).inc(cost_usd)

    def count(self, metric_name: str, amount: float = 1, **labels: object) -> None:
        """Add `amount` (>= 0) to one of the service's counters, e.g. `gateway_router_decisions_total`.
        Label values are masked (masking.mask_text) like every text the kit
        emits; a `gen_ai_provider_name` becomes the conventions' well-known
        name where one applies (contract.provider_name).

        Raises:
            ValueError: the metric is not one of this service's counters, or the
                label names are not exactly the contract's, or `amount` < 0.
        """
        counter = self._counter(metric_name)
        wanted = self._contract[metric_name].labels
        if set(labels) != set(wanted):
            raise ValueError(
                f"{metric_name} labels: given ({', '.join(sorted(labels))}); must be exactly ({', '.join(wanted)})"
            )
        if amount < 0:
            raise ValueError(f"{metric_name} amount: given {amount}; a counter only grows, must be >= 0")
        if "gen_ai_provider_name" in labels:
            labels["gen_ai_provider_name"] = provider_name(str(labels["gen_ai_provider_name"]))
        counter.labels(**{k: mask_text(str(v)) for k, v in labels.items()}).inc(amount)

    def read_span_pipeline_from(self, source: Callable[[], Iterable[SpanPipelinePoint]] | None) -> None:
        """Feed the `contract.KIT_METRICS` series from `source` at every scrape (None: no series).

        `tracing.configure_tracing` attaches the OTel SDK's own span pipeline
        counts here; without it the families are exposed with no samples.
        """
        self._span_pipeline.source = source

    def span_pipeline_changed(self) -> None:
        """The span pipeline exported a batch: in multiprocess mode its counts
        are copied into this worker's files now, so a scrape answered by any
        worker sums every worker's (a no-op otherwise: a scrape reads them)."""
        if isinstance(self._span_pipeline, _SpanPipelineMirror):
            self._span_pipeline.mirror()

    def exposition(self, accept_header: str) -> tuple[bytes, str]:
        """Render a scrape: (body, content type) for the scraper's `Accept` header.

        OpenMetrics (with exemplars) when the header asks for
        `application/openmetrics-text`, else the Prometheus text format 0.0.4;
        the negotiation is prometheus_client's `choose_encoder`.
        """
        encoder, content_type = choose_encoder(accept_header)
        if isinstance(self._span_pipeline, _SpanPipelineMirror):
            self._span_pipeline.mirror()
            every_worker = CollectorRegistry()
            MultiProcessCollector(every_worker)
            return encoder(every_worker), content_type
        return encoder(self.registry), content_type

    def _histogram(self, name: str) -> Histogram:
        return self._of_type(name, Histogram)  # type: ignore[return-value]

    def _gauge(self, name: str) -> Gauge:
        return self._of_type(name, Gauge)  # type: ignore[return-value]

    def _counter(self, name: str) -> Counter:
        return self._of_type(name, Counter)  # type: ignore[return-value]

    def _of_type(self, name: str, kind: type) -> MetricWrapperBase:
        metric = self._metrics.get(name)
        if not isinstance(metric, kind):
            have = sorted(n for n, m in self._metrics.items() if isinstance(m, kind))
            raise ValueError(
                f"metric: given {name!r}; service {self.service!r} has no such {kind.__name__.lower()} "
                f"in the contract; its {kind.__name__.lower()}s: {', '.join(have) or 'none'}"
            )
        return metric


def exemplar(trace_id: str | None) -> dict[str, str] | None:
    """The exemplar labels for a latency observation: `{"trace_id": <32 hex>}` or None.

    None takes the current OTel span's trace id when there is a sampled span
    (an unsampled trace is never in Jaeger, so linking to it would dangle).

    Raises:
        ValueError: `trace_id` is given but not 32 lower-case hex digits (W3C).
    """
    if trace_id is None:
        context = trace.get_current_span().get_span_context()
        if not (context.is_valid and context.trace_flags.sampled):
            return None
        trace_id = format(context.trace_id, "032x")
    if not _TRACE_ID.fullmatch(trace_id):
        raise ValueError(f"trace_id: given {trace_id!r}; must be 32 lower-case hex digits (W3C trace id)")
    return {"trace_id": trace_id}


def _build(metric: Metric, registry: CollectorRegistry | None) -> MetricWrapperBase:
    # No `unit=`: prometheus_client would append it to the name (and the
    # contract's units, `s` or `tokens`, are not Prometheus suffixes), while the
    # contract's names are already what Prometheus stores.
    if metric.type == "counter":
        # prometheus_client keeps counters without `_total` and adds it back on exposition.
        return Counter(metric.name, metric.help, metric.labels, registry=registry)
    if metric.type == "histogram":
        buckets = KIT_HISTOGRAM_BUCKETS[metric.name]
        return Histogram(metric.name, metric.help, metric.labels, registry=registry, buckets=buckets)
    # Multiprocess mode: a gauge is the sum over live workers (active
    # requests, queue sizes); ignored in one process.
    return Gauge(metric.name, metric.help, metric.labels, registry=registry, multiprocess_mode="livesum")


def _span_pipeline_values(source: Callable[[], Iterable[SpanPipelinePoint]]) -> dict[tuple[str, tuple[str, ...]], float]:
    """The source's points by (contract name, label values). Attributes
    beyond the contract's labels (the exporter's server.address,
    server.port) are summed away, not exposed."""
    labels_of = {m.name: m.labels for m in KIT_METRICS}
    values: dict[tuple[str, tuple[str, ...]], float] = {}
    for name, labels, value in source():
        if name in labels_of:
            key = (name, tuple(str(labels.get(label, "")) for label in labels_of[name]))
            values[key] = values.get(key, 0.0) + value
    return values


class _SpanPipelineMirror:
    """contract.KIT_METRICS in multiprocess mode: the SDK's cumulative counts
    of this worker copied into prometheus_client metrics (a counter grows by
    what the SDK's grew since the last copy; a gauge is set), whose files a
    scrape sums over the workers."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[SpanPipelinePoint]] | None = None
        self._metrics = {m.name: _build(m, None) for m in KIT_METRICS}
        self._copied: dict[tuple[str, tuple[str, ...]], float] = {}
        self._lock = threading.Lock()  # the exporter's thread and a scrape
        # A worker forked while the parent's exporter thread held the lock
        # (gunicorn --preload) would wait for it for ever.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def mirror(self) -> None:
        source = self.source
        if source is None:
            return
        with self._lock:
            for (name, label_values), value in _span_pipeline_values(source).items():
                metric = self._metrics[name].labels(*label_values)
                if isinstance(metric, Counter):
                    grown = value - self._copied.get((name, label_values), 0.0)
                    if grown > 0:
                        metric.inc(grown)
                        self._copied[(name, label_values)] = value
                else:
                    metric.set(value)


class _SpanPipelineCollector(Collector):
    """Exposes `contract.KIT_METRICS` from a pluggable reading (see `ServiceMetrics.read_span_pipeline_from`)."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[SpanPipelinePoint]] | None = None

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        families = {}
        for metric in KIT_METRICS:
            if metric.type == "counter":
                families[metric.name] = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            else:
                families[metric.name] = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
        source = self.source
        if source is not None:
            for (name, label_values), value in sorted(_span_pipeline_values(source).items()):
                families[name].add_metric(list(label_values), value)
        return families.values()
