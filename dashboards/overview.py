"""Gateway overview: RED per service and for Kong, Kong's latency split,
the status-code mix, the busiest routes, requests in flight, the providers'
error ratio and the alerts firing now (Prometheus' and Loki's). Where an on-call engineer starts: a
service's series link on to its logs and traces, a provider's to the
provider board."""

from __future__ import annotations

from dashboards.board import (
    Board,
    ENV,
    PROVIDER_FAILED,
    RATE,
    SERVICE,
    alert_list,
    bars,
    data_link,
    environment_variable,
    graph,
    grid,
    promql,
    quantile,
    service_variable,
    thresholds,
)
from stack.alerting.rule import ratio, sum_rate
from stack.alerting.slo import http_failure_ratio
from stack.settings import Settings

HTTP = "http_server_request_duration_seconds"
SELECTOR = f"{{{ENV}, {SERVICE}}}"
KONG = f"{{{ENV}}}"


def _service_rate(matchers: str = "", by: str = "service", window: str = RATE) -> str:
    return sum_rate(f"{HTTP}_count", by, window, f"{{{ENV}, {SERVICE}{matchers}}}")


def _llm_rate(matchers: str = "") -> str:
    return sum_rate("gen_ai_client_operation_duration_seconds_count", "gen_ai_provider_name", RATE, f"{{{ENV}{matchers}}}")


def build(settings: Settings) -> Board:
    limits = settings.alerting.thresholds
    board = Board(
        "overview",
        "AI gateway: overview",
        "RED per service and for Kong, the status-code mix, the busiest routes and the alerts firing now.",
    )
    board.variables = [environment_variable(), service_variable()]
    to_logs = data_link("Logs and traces of ${__field.labels.service}", "logs", service="${__field.labels.service}")
    to_provider = data_link(
        "Provider board: ${__field.labels.gen_ai_provider_name}", "providers", provider="${__field.labels.gen_ai_provider_name}"
    )

    board.row("Services")
    board.add(
        graph(
            "Request rate",
            "Requests per second each service answers. A drop to zero with traffic at Kong means the service is down or unreachable: check ServiceDown and the service's logs.",
            "reqps",
            promql(_service_rate(), "{{service}}"),
        ).data_links([to_logs]),
        8,
    )
    board.add(
        graph(
            "Error ratio",
            "Share of requests that failed: answered 5xx, broken by an exception, or a stream cut after its 200 (the contract's one definition: error_type set). Above the SLO's budget, open the service's logs (error_type, error_source) and the provider board.",
            "percentunit",
            promql(http_failure_ratio(f"{ENV}, {SERVICE}", RATE), "{{service}}"),
            limits=thresholds((0.01, "orange"), (0.05, "red")),
            decimals=3,
        ).data_links([to_logs]),
        8,
    )
    board.add(
        graph(
            "Latency p50 / p95 / p99",
            "Server-side request duration; dots are exemplars that open the trace in Jaeger. A p99 far above p95 points to a slow dependency: follow an exemplar.",
            "s",
            *(
                promql(quantile(q, HTTP, SELECTOR, "service"), f"{{{{service}}}} p{int(q * 100)}", exemplar=True)
                for q in (0.5, 0.95, 0.99)
            ),
            limits=thresholds((limits.service_latency_p95_seconds, "red")),
        ).data_links([to_logs]),
        8,
    )
    board.add(
        graph(
            "Status codes",
            "Answers per second by HTTP status, stacked. 429s are rate limits (ours or a provider's), 5xx server errors; a new code is worth a look in the logs.",
            "reqps",
            promql(_service_rate(by="http_response_status_code"), "{{http_response_status_code}}"),
            stacked=True,
        ),
        8,
    )
    board.add(
        bars(
            "Busiest routes",
            "Requests per second by service and route, averaged over the dashboard's time range. A route that leaps up here is where new load comes from.",
            "reqps",
            promql(
                f"topk(10, {_service_rate(by='service, http_route', window='$__range')})",
                "{{service}} {{http_route}}",
                instant=True,
            ),
        ),
        8,
    )
    board.add(
        graph(
            "Requests in flight",
            "Requests each service is working on now (OTel http.server.active_requests). Growing while the rate stays flat means requests are stuck: look at provider latency.",
            "short",
            promql(f"sum by (service) (http_server_active_requests{SELECTOR})", "{{service}}"),
            decimals=0,
        ),
        8,
    )
    board.add(
        graph(
            "LLM provider error ratio",
            f"Share of LLM calls that failed through the provider, by provider, as the provider alerts count them ({PROVIDER_FAILED}: not the caller's own bad requests). One provider high: open its board (click the series) and check fallbacks; all of them high: our side (keys, network).",
            "percentunit",
            promql(ratio(_llm_rate(f", {PROVIDER_FAILED}"), _llm_rate()), "{{gen_ai_provider_name}}"),
            limits=thresholds((limits.provider_error_ratio, "red")),
            decimals=3,
        ).data_links([to_provider]),
        24,
        6,
    )
    board.add(
        alert_list(
            "Alerts firing",
            "Alerts firing or pending now, worst first, from every rule source: Prometheus' rules and Loki's ruler (the log alerts, which Prometheus' ALERTS series never has). Watchdog always fires: it proves the alerting path works. Each alert's notification carries its runbook; the panel's link (Alertmanager: alert groups) opens what Alertmanager holds: how it grouped them, what is silenced or inhibited.",
        ),
        24,
        8,
    )

    board.row("Kong")
    board.add(
        graph(
            "Kong request rate",
            "Requests per second through Kong by Kong service (the upstream API) and route.",
            "reqps",
            promql(
                f"sum by (exported_service, route) (rate(kong_http_requests_total{KONG}[{RATE}]))",
                "{{exported_service}} {{route}}",
            ),
        ),
        8,
    )
    kong_total = f"sum by (exported_service) (rate(kong_http_requests_total{KONG}[{RATE}]))"
    board.add(
        graph(
            "Kong error ratio",
            "Share of Kong's answers that are 5xx, by Kong service. High here and low in the services: Kong itself or the network between fails (see the latency split).",
            "percentunit",
            promql(
                ratio(f'sum by (exported_service) (rate(kong_http_requests_total{{{ENV}, code=~"5.."}}[{RATE}]))', kong_total),
                "{{exported_service}}",
            ),
            limits=thresholds((limits.kong_server_error_ratio, "red")),
            decimals=3,
        ),
        8,
    )
    board.add(
        graph(
            "Kong latency split (p95)",
            "Where a request's time goes: in Kong's own plugins and routing, waiting for the upstream, and in total. Kong's share growing means a plugin (rate limiting, AI proxy) is slow.",
            "ms",
            *(
                promql(quantile(0.95, metric, KONG, "exported_service"), f"{{{{exported_service}}}} {part}", exemplar=True)
                for metric, part in (
                    ("kong_kong_latency_ms", "kong"),
                    ("kong_upstream_latency_ms", "upstream"),
                    ("kong_request_latency_ms", "total"),
                )
            ),
        ),
        8,
    )
    board.add(
        graph(
            "Kong bandwidth",
            "Bytes per second in and out of Kong, by direction. Answers much larger than usual are long LLM completions or a misbehaving client.",
            "Bps",
            promql(f"sum by (direction) (rate(kong_bandwidth_bytes{KONG}[{RATE}]))", "{{direction}}"),
        ),
        12,
    )
    board.add(
        grid(
            "Kong upstream targets",
            "Health Kong's active checks see for each upstream target (1 in the current state). An unhealthy target gets no traffic: check that service.",
            "short",
            promql(f"max by (upstream, target, state) (kong_upstream_target_health{KONG}) == 1", instant=True, table_format=True),
            decimals=0,
        ),
        12,
    )
    return board
