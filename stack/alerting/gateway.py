"""Alerts on the AI gateway itself: availability, latency, LLM providers, cost and tokens."""

from __future__ import annotations

from stack import alert_names as names
from stack.alerting.rule import alert, fill, gateway_jobs, has_kong, number, percent
from stack.settings import Settings

# What a dead provider also causes: silenced while PROVIDER_DOWN fires
# (Alertmanager's inhibitions, stack/components/alertmanager.py).
PROVIDER_SYMPTOMS = (names.PROVIDER_HIGH_ERROR_RATE, names.PROVIDER_HIGH_LATENCY, names.TIME_TO_FIRST_TOKEN_HIGH)


def availability_alerts(settings: Settings) -> list[dict]:
    up = f'up{{job=~"{gateway_jobs(settings)}"}}'
    # A service is down when none of its instances answers: what users feel,
    # and the page. One instance of several is a warning: the others serve
    # (the kubernetes-mixin's TargetDown is a warning too). The page is about
    # the service as a whole (no instance label), so its inhibition mutes
    # everything about the service; an instance's, only what is about it.
    rules = [
        alert(
            settings,
            names.SERVICE_DOWN,
            f"max without (instance) ({up}) == 0",
            for_="2m",
            severity="critical",
            summary="A gateway service is down.",
            description="No instance of {{ $labels.service }} has answered Prometheus for {pending}.",
        ),
        alert(
            settings,
            names.SERVICE_INSTANCE_DOWN,
            f"{up} == 0 unless on (service) (max without (instance) ({up}) == 0)",
            for_="5m",
            severity="warning",
            summary="An instance of a gateway service is down; the others still serve.",
            description="{{ $labels.service }} at {{ $labels.instance }} has not answered Prometheus for {pending}.",
        ),
    ]
    rules += [
        alert(
            settings,
            names.SERVICE_ABSENT,
            f'absent(up{{job="{service.name}"}})',
            for_="5m",
            severity="critical",
            # absent() keeps only the job label; routing and inhibition need the service.
            labels={"service": service.name},
            summary="A gateway service has no scrape target.",
            description=(
                # Templates see the expression's labels, before the rule's service label is added.
                "Prometheus has had no target for {{ $labels.job }} for {pending}: "
                "the service is gone or gatewayServices does not match the deployment."
            ),
        )
        for service in settings.gateway_services
    ]
    if has_kong(settings):
        threshold = settings.alerting.thresholds.kong_server_error_ratio
        rules.append(
            alert(
                settings,
                names.KONG_HIGH_SERVER_ERROR_RATE,
                f"kong_service:kong_http_requests_5xx:ratio_rate5m > {number(threshold)}",
                for_="5m",
                severity="critical",
                summary="Kong is returning server errors above the threshold.",
                description=fill(
                    "{{ $value | humanizePercentage }} of requests to Kong service {{ $labels.exported_service }} "
                    "returned 5xx over 5 minutes (threshold {threshold}).",
                    threshold=percent(threshold),
                ),
            )
        )
    return rules


def latency_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    return [
        alert(
            settings,
            names.SERVICE_HIGH_LATENCY,
            f"service:http_server_request_duration_seconds:p95_rate5m > {number(thresholds.service_latency_p95_seconds)}",
            for_="10m",
            severity="warning",
            summary="A gateway service answers slowly.",
            description=fill(
                "p95 latency of {{ $labels.service }} is {{ $value | humanizeDuration }} (threshold {threshold}s).",
                threshold=number(thresholds.service_latency_p95_seconds),
            ),
        ),
        alert(
            settings,
            names.PROVIDER_HIGH_LATENCY,
            "provider:gen_ai_client_operation_duration_seconds:p95_rate5m > "
            + number(thresholds.provider_latency_p95_seconds),
            for_="10m",
            severity="warning",
            summary="An LLM provider answers slowly.",
            description=fill(
                "p95 duration of calls to {{ $labels.gen_ai_provider_name }} is {{ $value | humanizeDuration }} "
                "(threshold {threshold}s).",
                threshold=number(thresholds.provider_latency_p95_seconds),
            ),
        ),
        alert(
            settings,
            names.TIME_TO_FIRST_TOKEN_HIGH,
            "provider_model:gateway_llm_time_to_first_token_seconds:p95_rate5m > "
            + number(thresholds.time_to_first_token_p95_seconds),
            for_="10m",
            severity="warning",
            summary="Streaming responses are slow to start.",
            description=fill(
                "p95 time to first token for {{ $labels.gen_ai_provider_name }}/{{ $labels.gen_ai_request_model }} "
                "is {{ $value | humanizeDuration }} (threshold {threshold}s).",
                threshold=number(thresholds.time_to_first_token_p95_seconds),
            ),
        ),
    ]


def provider_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    return [
        alert(
            settings,
            names.PROVIDER_HIGH_ERROR_RATE,
            f"provider_model:gen_ai_client_operation_errors:ratio_rate5m > {number(thresholds.provider_error_ratio)}",
            for_="10m",
            severity="warning",
            summary="Calls to an LLM provider and model are failing.",
            description=fill(
                "{{ $value | humanizePercentage }} of calls to {{ $labels.gen_ai_provider_name }}/"
                "{{ $labels.gen_ai_request_model }} failed over 5 minutes (threshold {threshold}).",
                threshold=percent(thresholds.provider_error_ratio),
            ),
        ),
        alert(
            settings,
            names.PROVIDER_DOWN,
            # Fully failing while at least one other provider still succeeds:
            # the provider is down, not the gateway.
            "provider:gen_ai_client_operation_errors:ratio_rate5m >= 0.99"
            " and on (service) (count by (service) (provider:gen_ai_client_operation_errors:ratio_rate5m < 0.5) > 0)",
            for_="5m",
            severity="critical",
            summary="An LLM provider is failing every call while others serve.",
            description=(
                "Every call to {{ $labels.gen_ai_provider_name }} has failed for {pending} while other providers "
                "answer; the router should be failing over."
            ),
        ),
        alert(
            settings,
            names.ROUTER_FALLBACK_STORM,
            f"service:gateway_router_fallbacks:ratio_rate5m > {number(thresholds.fallback_ratio)}",
            for_="10m",
            severity="warning",
            summary="The router is falling back to other providers for many requests.",
            description=fill(
                "{{ $value | humanizePercentage }} of routing decisions fell back to another provider over "
                "5 minutes (threshold {threshold}).",
                threshold=percent(thresholds.fallback_ratio),
            ),
        ),
    ]


def cost_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    usage = "sum by (service) (rate(gen_ai_client_token_usage_sum[1h]{offset}))"
    return [
        alert(
            settings,
            names.LLM_SPEND_OVER_BUDGET,
            f"service:gateway_llm_cost_usd:increase1h > {number(thresholds.hourly_budget_usd)}",
            for_="5m",
            severity="warning",
            summary="LLM spend over the last hour is above the budget.",
            description=fill(
                "{{ $labels.service }} spent {{ $value | printf \"%.2f\" }} USD in the last hour "
                "(budget {budget} USD per hour).",
                budget=number(thresholds.hourly_budget_usd),
            ),
        ),
        alert(
            settings,
            names.TOKEN_USAGE_SPIKE,
            f"{fill(usage, offset='')} > {number(thresholds.token_spike_factor)} * {fill(usage, offset=' offset 1w')}"
            f" and {fill(usage, offset='')} > {number(thresholds.token_spike_min_rate)}",
            for_="15m",
            severity="warning",
            summary="Token usage is far above the same hour last week.",
            description=fill(
                "{{ $labels.service }} uses {{ $value | humanize }} tokens/s, more than {factor}x the same hour "
                "last week.",
                factor=number(thresholds.token_spike_factor),
            ),
        ),
    ]


def gateway_alert_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "gateway-availability.alerts", "rules": availability_alerts(settings)},
        {"name": "gateway-latency.alerts", "rules": latency_alerts(settings)},
        {"name": "gateway-providers.alerts", "rules": provider_alerts(settings)},
        {"name": "gateway-cost.alerts", "rules": cost_alerts(settings)},
    ]
