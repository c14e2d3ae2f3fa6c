"""Stack health: is the observability stack itself working? Each component
up, its alerts firing, whether every Prometheus reaches every Alertmanager
and the Alertmanager peers see each other, what it takes in (samples, log
lines, spans), what it fails at (rule evaluations, notifications) or drops
(log lines, spans), and Prometheus' storage against its retention."""

from __future__ import annotations

from gateway_telemetry import contract
from dashboards.board import (
    ENV,
    RATE,
    Board,
    alert_list,
    environment_variable,
    graph,
    grid,
    promql,
    single_stat,
    thresholds,
)
from stack import alert_names as names
from stack.alerting.rule import zero_when_absent
from stack.settings import Settings

SELECTOR = f"{{{ENV}}}"
# Each component's own scrape job is named after it (stack/components/prometheus.py).
STACK_JOBS = "|".join(contract.STACK_METRICS)


def _rate(metric: str, by: str = "", matchers: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{ENV}{matchers}}}[{RATE}]))"


def build(settings: Settings) -> Board:
    retention_days = settings.retention.metrics.seconds / 86400
    board = Board(
        "stack", "Observability stack health", "Each component up, ingestion, failures and drops, and storage against retention."
    )
    board.variables = [environment_variable()]

    board.row("Components")
    board.add(
        grid(
            "Components up",
            "1 when Prometheus scraped every instance of the component at its last try (the lowest of them). A 0 is a component down or unreachable: `make verify` says which and why.",
            "short",
            promql(f'min by (job) (up{{{ENV}, job=~"{STACK_JOBS}"}})', instant=True, table_format=True),
            decimals=0,
            limits=thresholds((1, "green"), base="red"),
        ),
        8,
    )
    board.add(
        graph(
            "Scrape duration by job",
            "Longest scrape per job. Near the scrape timeout, targets are about to be lost: fewer series or a longer timeout.",
            "s",
            promql(f"max by (job) (scrape_duration_seconds{SELECTOR})", "{{job}}"),
            limits=thresholds((settings.scrape_timeout.seconds * 0.8, "orange")),
        ),
        16,
    )

    board.row("Alerting path")
    # Imported here: stack.components imports this package (Grafana provisions the boards).
    from stack.components.service import replicas

    peers = replicas(settings, "alertmanager")
    board.add(
        alert_list(
            "Stack alerts firing",
            "Alerts about the stack's own components firing or pending now, from Prometheus' rules and Loki's ruler (alert instances whose service is one of them). A component gone entirely alerts without a service label: the overview's list shows those too. The panel's link opens what Alertmanager holds.",
            labels=f'{{service=~"{STACK_JOBS}"}}',
        ),
        8,
        8,
    )
    board.add(
        graph(
            "Alertmanagers each Prometheus sends to",
            f"Alertmanagers each Prometheus has found to send its alerts to; each should reach all {peers} (the line). Fewer: a peer misses that Prometheus' alerts and cannot stand in for the others; 0 for long raises {names.PROMETHEUS_NOT_CONNECTED_TO_ALERTMANAGERS}: its alerts reach no one.",
            "short",
            promql(
                f'max by (instance) (prometheus_notifications_alertmanagers_discovered{{{ENV}, job="prometheus"}})',
                "{{instance}}",
            ),
            decimals=0,
            limits=thresholds((peers, "green"), base="red"),
        ),
        8,
        8,
    )
    board.add(
        graph(
            "Alertmanager peers each sees",
            f"Members of the gossip cluster each Alertmanager sees, itself included; all should see all {peers} (the line). Fewer: peers that cannot gossip notify twice and miss each other's silences ({names.ALERTMANAGER_MEMBERS_INCONSISTENT}). One replica runs without a cluster and exports no count: it reads 1, itself, while it is up; a peer that is down reads 0.",
            "short",
            promql(
                f'max by (instance) (alertmanager_cluster_members{{{ENV}, job="alertmanager"}})'
                f' or max by (instance) (up{{{ENV}, job="alertmanager"}})',
                "{{instance}}",
            ),
            decimals=0,
            limits=thresholds((peers, "green"), base="red"),
        ),
        8,
        8,
    )

    board.row("Ingestion")
    board.add(
        graph(
            "Samples appended",
            "Samples per second Prometheus writes: scrapes and rules. A step up is a new target or a cardinality leak (see head series).",
            "short",
            promql(_rate("prometheus_tsdb_head_samples_appended_total"), "samples"),
        ),
        6,
    )
    board.add(
        graph(
            "Head series",
            "Series in Prometheus' head block. Growth without new targets is a label with unbounded values.",
            "short",
            promql(f"sum(prometheus_tsdb_head_series{SELECTOR})", "series"),
            decimals=0,
        ),
        6,
    )
    board.add(
        graph(
            "Log lines",
            "Lines per second Promtail sent and Loki received. Sent above received: pushes fail (see dropped log lines).",
            "short",
            promql(_rate("promtail_sent_entries_total"), "sent by Promtail"),
            promql(_rate("loki_distributor_lines_received_total"), "received by Loki"),
        ),
        6,
    )
    board.add(
        graph(
            "Spans",
            "Spans per second Jaeger accepted and wrote to storage.",
            "short",
            promql(_rate("otelcol_receiver_accepted_spans_total"), "accepted"),
            promql(_rate("otelcol_exporter_sent_spans_total"), "stored"),
        ),
        6,
    )

    board.row("Failures and drops")
    board.add(
        graph(
            "Rule evaluation failures",
            "Failed rule evaluations per second, by group. Any is a broken rule or an overloaded Prometheus: alerts of that group are not evaluated.",
            "short",
            promql(_rate("prometheus_rule_evaluation_failures_total", "rule_group"), "{{rule_group}}"),
        ),
        8,
    )
    board.add(
        graph(
            "Notification failures",
            "Alerts Prometheus could not send to Alertmanager, and notifications Alertmanager could not deliver, by integration. Any means pages are lost: check the receiver's credentials and reachability.",
            "short",
            promql(_rate("prometheus_notifications_errors_total"), "Prometheus → Alertmanager"),
            promql(_rate("alertmanager_notifications_failed_total", "integration"), "{{integration}}"),
        ),
        8,
    )
    board.add(
        graph(
            "Dropped log lines and spans",
            "Log lines Promtail gave up on after retries, spans Jaeger refused or failed to store, spans the gateway's services dropped on a full queue or could not export. Any is lost telemetry.",
            "short",
            promql(
                zero_when_absent(_rate("promtail_dropped_entries_total"), _rate("promtail_sent_entries_total")),
                "log lines dropped by Promtail",
            ),
            promql(_rate("otelcol_receiver_refused_spans_total"), "spans refused by Jaeger"),
            promql(_rate("otelcol_exporter_send_failed_spans_total"), "spans Jaeger failed to store"),
            promql(
                zero_when_absent(
                    _rate("otel_sdk_processor_span_processed_total", "service", ', error_type="queue_full"'),
                    _rate("otel_sdk_processor_span_processed_total", "service"),
                ),
                "spans dropped by {{service}}",
            ),
            promql(
                zero_when_absent(
                    _rate("otel_sdk_exporter_span_exported_total", "service", ', error_type!=""'),
                    _rate("otel_sdk_exporter_span_exported_total", "service"),
                ),
                "spans {{service}} failed to export",
            ),
        ),
        8,
    )

    board.row("Storage")
    board.add(
        single_stat(
            "Oldest metrics",
            f"Age of the oldest sample Prometheus keeps, against the {retention_days:g}-day retention (retention.metrics). It levels off at the retention once the stack is that old.",
            "d",
            promql(f"(time() - min(prometheus_tsdb_lowest_timestamp_seconds{SELECTOR})) / 86400", instant=True),
            decimals=1,
            limits=thresholds((retention_days * 1.1, "orange")),
        ),
        8,
    )
    board.add(
        graph(
            "Prometheus storage",
            "Bytes of Prometheus' persisted blocks on the data volume; it levels off once the oldest blocks pass the retention. Still climbing after that: more series (see head series).",
            "bytes",
            promql(f"sum(prometheus_tsdb_storage_blocks_bytes{SELECTOR})", "blocks"),
        ),
        16,
    )
    return board
