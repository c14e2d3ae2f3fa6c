"""A scrape target standing for a component that cannot run here (Kong,
Loki, Promtail, Jaeger, Grafana): it serves that component's metrics as the
telemetry contract lists them (names, types, labels, Kong's buckets), healthy
values only, counters growing at every scrape. It proves the dashboards'
queries fit what the contract says these components expose; what the real
components expose is pinned by the contract's own tests."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from examples.gateway.common import MODELS
from gateway_telemetry import contract
from standins import Handler, StandIn

# A healthy value for each label the contract's stand-in metrics have ("x" otherwise).
LABEL_VALUES = {
    "code": "200", "source": "service", "direction": "egress", "state": "healthy", "subsystem": "http",
    "exported_service": "unified-llm-api", "route": "unified-llm-api", "workspace": "default",
    "ai_provider": "openai", "ai_model": "gpt-4o-mini", "cache_status": "", "vector_db": "", "token_type": "total_tokens",
    "upstream": "unified-llm-api", "target": "unified-llm-api:8000", "address": "10.0.0.7:8000",
    "tenant": "fake", "host": "loki:3100", "receiver": "otlp", "transport": "http", "exporter": "badger",
    "method": "GET", "status_code": "200", "ws": "false", "span_kind": "SPAN_KIND_SERVER",
}
# Counters a healthy component keeps at 0 (present, never growing).
STAYS_ZERO = ("dropped", "refused", "failed")


class ExporterHandler(Handler):
    def do_GET(self):
        if self.path != "/metrics":
            return self.reply(404, {"error": "not found"})
        self.state.tick()
        self.reply(200, generate_latest(self.state.registry), "text/plain; version=0.0.4")


class ContractExporter(StandIn):
    """/metrics with `metrics` (contract.Metric) at healthy values."""

    handler = ExporterHandler

    def __init__(self, metrics: tuple[contract.Metric, ...]) -> None:
        super().__init__()
        self.registry = CollectorRegistry()
        self.rng = random.Random(7)
        self.children: list = []
        self.families: dict = {}
        for metric in metrics:
            for labels in self._label_sets(metric):
                self._add(metric, labels)

    def _label_sets(self, metric: contract.Metric) -> list[dict[str, str]]:
        labels = {label: LABEL_VALUES.get(label, "x") for label in metric.labels}
        if "ai_provider" not in labels:
            return [labels]
        # Kong's AI metrics for every model the demo's providers serve, as the
        # provider board's variables list them.
        return [{**labels, "ai_provider": provider, "ai_model": model} for model, (provider, *_) in MODELS.items()]

    def _add(self, metric: contract.Metric, labels: dict[str, str]) -> None:
        family = self.families.get(metric.name)
        if family is None:
            if metric.type == "counter" and metric.name.endswith("_total"):
                family = Counter(metric.name.removesuffix("_total"), metric.help, metric.labels, registry=self.registry)
            elif metric.type in ("gauge", "counter"):  # a counter without _total (Kong's bandwidth): same line, no suffix
                family = Gauge(metric.name, metric.help, metric.labels, registry=self.registry)
            else:
                buckets = contract.KONG_LATENCY_BUCKETS_MS if metric.unit == "ms" else Histogram.DEFAULT_BUCKETS
                family = Histogram(metric.name, metric.help, metric.labels, registry=self.registry, buckets=buckets)
            self.families[metric.name] = family
        child = family.labels(**labels) if labels else family
        self.children.append((metric, child))
        if metric.type == "gauge":
            child.set(1)  # a healthy upstream target; the other gauges only need a value

    def tick(self) -> None:
        """What happened since the last scrape: some requests, lines, spans."""
        for metric, child in self.children:
            if metric.type == "counter" and not any(word in metric.name for word in STAYS_ZERO):
                child.inc(self.rng.randint(1, 20))
            elif metric.type == "histogram":
                for _ in range(5):
                    child.observe(self.rng.uniform(1, 200) if metric.unit == "ms" else self.rng.uniform(0.001, 0.5))
