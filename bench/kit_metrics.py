"""What one /metrics scrape costs at realistic cardinality, and how many spans drop under load.

    .venv/bin/python bench/kit_metrics.py

1. Scrape cost. Each kit service's ServiceMetrics is filled to a realistic
   cardinality (the label sets below; error_type follows the status, so it adds
   no factor) and rendered in the Prometheus text format and in OpenMetrics
   (with exemplars). The same series with prometheus_client's default buckets
   (14 bounds) are rendered in the same run, so the ratio is what the
   contract's bucket choice costs. A scrape holds the GIL for its whole
   duration: requests wait that long.
2. Span drops. Spans are ended as fast as one thread can, for a few seconds,
   through the default BatchSpanProcessor (queue 2048, batch 512, delay 5 s)
   and the real OTLP/HTTP exporter, against examples/gateway/otlp_receiver.py holding each
   export for 0.5 s (a slow collector) and against an answering one. Pushed,
   dropped (`queue_full`) and exported counts come from the kit's own /metrics.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.gateway.otlp_receiver import OtlpReceiver  # noqa: E402
from prometheus_client import Histogram  # noqa: E402
from prometheus_client.openmetrics.parser import text_string_to_metric_families  # noqa: E402

import gateway_telemetry.metrics as kit_metrics  # noqa: E402
from gateway_telemetry import contract, tracing  # noqa: E402
from gateway_telemetry.metrics import ServiceMetrics  # noqa: E402

ROUTES = ("/v1/chat/completions", "/v1/embeddings", "/v1/models")
STATUSES = (200, 400, 429, 500)
METHODS = ("GET", "POST")
PROVIDERS = ("openai", "anthropic", "google", "mistral", "cohere")
MODELS = tuple(f"model-{i}" for i in range(8))
OPERATIONS = ("chat", "embeddings")
ROUTER_REASONS = ("cost", "latency", "quality", "pinned")
FALLBACK_REASONS = ("error", "timeout", "rate_limit", "budget")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")


def filled(service: str) -> ServiceMetrics:
    """A ServiceMetrics with every label set of the realistic cardinality observed once."""
    metrics = ServiceMetrics(service)
    for route in ROUTES:
        for status in STATUSES:
            for method in METHODS:
                error = None if status < 400 else str(status)
                metrics.observe_request(method=method, route=route, status_code=status, error_type=error, seconds=0.2, trace_id=TRACE_ID)
    if service == "unified-llm-api":
        for provider in PROVIDERS:
            for model in MODELS:
                for operation in OPERATIONS:
                    for error in (None, "timeout"):
                        metrics.observe_llm_call(
                            operation=operation, provider=provider, model=model, seconds=1.3, input_tokens=200,
                            output_tokens=600, cost_usd=0.01, time_to_first_token=0.3, error_type=error, trace_id=TRACE_ID,
                        )
    if service == "intelligent-router":
        for provider in PROVIDERS:
            for model in MODELS:
                for reason in ROUTER_REASONS:
                    metrics.count("gateway_router_decisions_total", gen_ai_provider_name=provider, gen_ai_request_model=model, reason=reason)
            for other in PROVIDERS:
                if other != provider:
                    for reason in FALLBACK_REASONS:
                        metrics.count("gateway_router_fallbacks_total", from_provider=provider, to_provider=other, reason=reason)
    if service == "optimization-service":
        for cache in ("semantic", "exact"):
            metrics.count("gateway_optimization_cache_hits_total", cache=cache)
            metrics.count("gateway_optimization_cache_misses_total", cache=cache)
        for model in MODELS:
            for technique in ("cache", "compression"):
                metrics.count("gateway_optimization_tokens_saved_total", gen_ai_request_model=model, technique=technique)
    return metrics


def with_default_buckets(service: str) -> ServiceMetrics:
    """The same series, every histogram on prometheus_client's DEFAULT_BUCKETS."""
    contract_buckets = kit_metrics.KIT_HISTOGRAM_BUCKETS
    kit_metrics.KIT_HISTOGRAM_BUCKETS = {name: Histogram.DEFAULT_BUCKETS for name in contract_buckets}
    try:
        return filled(service)
    finally:
        kit_metrics.KIT_HISTOGRAM_BUCKETS = contract_buckets


def scrape_ms(metrics: ServiceMetrics, accept: str, rounds: int = 30) -> tuple[float, int, int]:
    """(fastest ms per scrape, bytes, samples) of one exposition; the minimum, as other load only adds."""
    body, _ = metrics.exposition(accept)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        metrics.exposition(accept)
        times.append((time.perf_counter() - start) * 1000)
    samples = sum(len(f.samples) for f in text_string_to_metric_families(metrics.exposition(OPENMETRICS)[0].decode()))
    return min(times), len(body), samples


def scrape_table() -> None:
    print("1. One /metrics scrape (fastest of 30), contract buckets vs prometheus_client defaults")
    print(f"{'service':22} {'format':12} {'samples':>8} {'ms':>7} {'KiB':>7} {'samples dflt':>12} {'ms dflt':>8} {'KiB dflt':>9} {'time ratio':>10}")
    for service in SERVICES:
        ours, default = filled(service), with_default_buckets(service)
        for label, accept in (("text", ""), ("openmetrics", OPENMETRICS)):
            ms, size, samples = scrape_ms(ours, accept)
            ms_d, size_d, samples_d = scrape_ms(default, accept)
            print(
                f"{service:22} {label:12} {samples:8d} {ms:7.2f} {size / 1024:7.1f} {samples_d:12d} {ms_d:8.2f} "
                f"{size_d / 1024:9.1f} {ms / ms_d:10.2f}"
            )
    buckets = {name: len(bounds) for name, bounds in contract.KIT_HISTOGRAM_BUCKETS.items()}
    print(f"   finite bounds: {buckets}; default: {len(Histogram.DEFAULT_BUCKETS) - 1}")


def drops(delay: float, rate: float | None, seconds: float = 3.0) -> tuple[float, float, float, float]:
    """(spans/s pushed, share dropped, exported within the run, still queued) with the default queue settings.

    `rate` paces the pushing thread (spans/s); None pushes flat out.
    """
    for name in ("OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_TRACES_SAMPLER"):
        os.environ.pop(name, None)
    with OtlpReceiver(delay_seconds=delay) as receiver:
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.traces_endpoint
        metrics = ServiceMetrics("unified-llm-api")
        tracing.configure_tracing(service="unified-llm-api", environment="bench", version="0", metrics=metrics)
        tracer = tracing.tracer("bench")
        pushed, deadline = 0, time.perf_counter() + seconds
        start = time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            if rate is not None and pushed >= (now - start) * rate:
                time.sleep(0.001)
                continue
            tracer.start_span("burst").end()
            pushed += 1
        elapsed = time.perf_counter() - start
        families = {f.name: f.samples for f in text_string_to_metric_families(metrics.exposition(OPENMETRICS)[0].decode())}
        tracing.shutdown_tracing()
    processed = {s.labels["error_type"]: s.value for s in families["otel_sdk_processor_span_processed"]}
    exported = sum(s.value for s in families["otel_sdk_exporter_span_exported"] if not s.labels["error_type"])
    queued = families["otel_sdk_processor_span_queue_size"][0].value
    return pushed / elapsed, processed.get("queue_full", 0.0) / pushed, exported, queued


def drop_table() -> None:
    print("\n2. Span drops under load, default BatchSpanProcessor settings, one thread pushing for 3 s")
    print(f"{'collector':28} {'pushing':9} {'spans/s pushed':>15} {'dropped':>9} {'exported':>9} {'queued':>7}")
    for label, delay in (("answers at once", 0.0), ("holds each export 0.5 s", 0.5)):
        for pace, rate in (("flat out", None), ("1000/s", 1000.0)):
            pushed, dropped, exported, queued = drops(delay, rate)
            print(f"{label:28} {pace:9} {pushed:15,.0f} {dropped:9.1%} {exported:9,.0f} {queued:7,.0f}")


if __name__ == "__main__":
    scrape_table()
    drop_table()
