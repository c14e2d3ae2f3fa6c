"""Logs and traces: the chosen services' logs from Loki at the chosen levels
(each line with a link to its trace in Jaeger: the Loki datasource's derived
fields), error logs by error_type and error_source, slow requests with their
traces, and the latency distribution whose exemplars open traces too."""

from __future__ import annotations

from dashboards.board import (
    Board,
    ENV,
    LOKI,
    SERVICE,
    environment_variable,
    gateway_service_variable,
    graph,
    level_variable,
    log_lines,
    logql,
    promql,
    quantile,
)
from stack.settings import Settings

# Loki keeps environment, service and level as labels (stack/components/promtail.py).
STREAM = '{environment="$environment", service=~"$service", level=~"$level"}'
ERRORS = '{environment="$environment", service=~"$service", level=~"error|critical"}'


def build(settings: Settings) -> Board:
    slow_ms = round(settings.alerting.thresholds.service_latency_p95_seconds * 1000)
    board = Board(
        "logs",
        "AI gateway: logs and traces",
        "Logs of the chosen services with links to their traces, errors by type and source, slow requests.",
    )
    # Every service whose lines Promtail ships, Kong included (its access and error logs).
    board.variables = [environment_variable(), gateway_service_variable(settings), level_variable()]

    board.add(
        graph(
            "Log lines by level",
            "Lines per second Loki received, by level. A jump in warning or error lines usually comes before an alert.",
            "short",
            logql(f"sum by (level) (rate({STREAM}[$__auto]))", "{{level}}"),
            stacked=True,
            datasource=LOKI,
        ),
        12,
    )
    board.add(
        graph(
            "Errors by type and source",
            "Error and critical lines per second by error_type and where it failed (error_source: provider, internal, client, timeout, rate_limit); lines that are no JSON (tracebacks, a library's plain text) count as `unparsed`. Provider errors point to the provider board; internal ones to a recent deploy.",
            "short",
            logql(
                f'sum by (error_source, error_type) (rate({ERRORS} | json error_source, error_type | __error__="" [$__auto]))',
                "{{error_source}} {{error_type}}",
            ),
            logql(f'sum(rate({ERRORS} | json | __error__!="" [$__auto]))', "unparsed"),
            stacked=True,
            datasource=LOKI,
        ),
        12,
        failures_only=True,
    )
    board.add(
        log_lines(
            "Logs",
            "The chosen services' lines, newest first, secrets already masked. Open a line for its fields; its trace_id links to the trace in Jaeger.",
            logql(STREAM, max_lines=500),
        ),
        24,
        12,
    )
    board.add(
        log_lines(
            "Slow requests",
            f"Access lines of requests slower than {slow_ms} ms (alerting.thresholds.serviceLatencyP95Seconds). Open one and follow its trace_id to Jaeger to see which call took the time.",
            logql(
                f'{{environment="$environment", service=~"$service"}} |= "latency_ms" | json latency_ms | __error__="" | latency_ms > {slow_ms}',
                max_lines=200,
            ),
        ),
        12,
        10,
    )
    board.add(
        graph(
            "Request latency with exemplars",
            "p95 request duration of the chosen kit services; every dot is an exemplar: a real request with its trace, one click from Jaeger. Kong has no such histogram: its latency split is on the overview board.",
            "s",
            promql(
                quantile(0.95, "http_server_request_duration_seconds", f"{{{ENV}, {SERVICE}}}", "service"),
                "{{service}} p95",
                exemplar=True,
            ),
        ),
        12,
        10,
    )
    return board
