"""Alerts on the AI gateway itself: availability, latency, LLM providers, cost and tokens."""

from __future__ import annotations

from stack import alert_names as names
from stack.alerting.rule import alert, fill, gateway_jobs, has_kong, number, percent, with_traffic_floor
from stack.settings import Duration, Settings
from stack.slis import LATENCY, service_slis

# What a dead provider also causes: silenced while PROVIDER_DOWN fires
# (Alertmanager's inhibitions, stack/components/alertmanager.py).
PROVIDER_SYMPTOMS = (
    names.PROVIDER_HIGH_ERROR_RATE,
    names.PROVIDER_HIGH_LATENCY,
    names.TIME_TO_FIRST_TOKEN_HIGH,
    names.TIME_TO_FIRST_TOKEN_REGRESSION,
)
TTFT_P95 = "provider_model:gateway_llm_time_to_first_token_seconds:p95_rate5m"


def stall_window(settings: Settings) -> Duration:
    """How long without a routing decision is a stalled router
    (GatewayRouterStalled): a minute, or four scrapes when they are further
    apart, so the window always holds samples to see a decision in."""
    return Duration.parse(f"{max(60, 4 * settings.scrape_interval.seconds)}s")


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
            f"{up} == 0 unless on (environment, service) (max without (instance) ({up}) == 0)",
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
        rules += kong_alerts(settings)
    return rules


def kong_alerts(settings: Settings) -> list[dict]:
    threshold = settings.alerting.thresholds.kong_server_error_ratio
    return [
        alert(
            settings,
            names.KONG_HIGH_SERVER_ERROR_RATE,
            # One Kong service (upstream API) failing: a cause, on the Kong
            # board. What users feel of it pages through Kong's availability SLO.
            with_traffic_floor(
                settings,
                f"kong_service:kong_http_requests_5xx:ratio_rate5m > {number(threshold)}",
                "kong_service:kong_http_requests:rate5m",
                "service, exported_service",
            ),
            for_="5m",
            severity="warning",
            summary="A Kong service is returning server errors above the threshold.",
            description=fill(
                "{{ $value | humanizePercentage }} of requests to Kong service {{ $labels.exported_service }} "
                "returned 5xx over 5 minutes (threshold {threshold}).",
                threshold=percent(threshold),
            ),
        ),
        alert(
            settings,
            names.KONG_UPSTREAM_TARGET_UNHEALTHY,
            # Kong's upstream health metric group: 1 for the target's current
            # state (kong/plugins/prometheus/exporter.lua at 3.9.3).
            'max by (service, upstream, target) (kong_upstream_target_health{state=~"unhealthy|dns_error"}) == 1',
            for_="5m",
            severity="warning",
            summary="Kong's health checks mark an upstream target unhealthy.",
            description=(
                "Kong has taken target {{ $labels.target }} of upstream {{ $labels.upstream }} out of balancing "
                "for {pending}: the other targets carry its traffic."
            ),
        ),
    ]


def short_request_services(settings: Settings) -> str:
    """The gateway services with a whole-request latency SLI, as a regex alternation."""
    return "|".join(s.name for s in settings.gateway_services if LATENCY in service_slis(s.name))


def latency_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    return [
        alert(
            settings,
            names.SERVICE_HIGH_LATENCY,
            # Only services whose requests are short (stack/slis.py): the LLM
            # API's last as long as the generation; its streams have their own.
            f'service:http_server_request_duration_seconds:p95_rate5m{{service=~"{short_request_services(settings)}"}}'
            f" > {number(thresholds.service_latency_p95_seconds)}",
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
            f"{TTFT_P95} > {number(thresholds.time_to_first_token_p95_seconds)}",
            for_="10m",
            severity="warning",
            summary="Streaming responses are slow to start.",
            description=fill(
                "p95 time to first token for {{ $labels.gen_ai_provider_name }}/{{ $labels.gen_ai_request_model }} "
                "is {{ $value | humanizeDuration }} (threshold {threshold}s).",
                threshold=number(thresholds.time_to_first_token_p95_seconds),
            ),
        ),
        alert(
            settings,
            names.TIME_TO_FIRST_TOKEN_REGRESSION,
            with_traffic_floor(
                settings,
                f"{TTFT_P95} > {number(thresholds.time_to_first_token_regression_factor)} * ({TTFT_P95} offset 1w)",
                "provider_model:gen_ai_client_operations:rate5m",
                "service, gen_ai_provider_name, gen_ai_request_model",
            ),
            for_="30m",
            severity="warning",
            summary="Time to first token is far above the same hour last week.",
            description=fill(
                "p95 time to first token for {{ $labels.gen_ai_provider_name }}/{{ $labels.gen_ai_request_model }} "
                "is {{ $value | humanizeDuration }}, more than {factor}x the same hour last week.",
                factor=number(thresholds.time_to_first_token_regression_factor),
            ),
        ),
    ]


def provider_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    provider_model = "service, gen_ai_provider_name, gen_ai_request_model"
    return [
        alert(
            settings,
            names.PROVIDER_HIGH_ERROR_RATE,
            with_traffic_floor(
                settings,
                f"provider_model:gen_ai_client_operation_errors:ratio_rate5m > {number(thresholds.provider_error_ratio)}",
                "provider_model:gen_ai_client_operations:rate5m",
                provider_model,
            ),
            for_="10m",
            severity="warning",
            summary="Calls to an LLM provider and model are failing.",
            description=fill(
                "{{ $value | humanizePercentage }} of calls to {{ $labels.gen_ai_provider_name }}/"
                "{{ $labels.gen_ai_request_model }} failed over 5 minutes, not counting the callers' own bad "
                "requests (threshold {threshold}).",
                threshold=percent(thresholds.provider_error_ratio),
            ),
        ),
        alert(
            settings,
            names.PROVIDER_DOWN,
            # Fully failing while at least one other provider still succeeds:
            # the provider is down, not the gateway, and failover absorbs it.
            # A cause, so a warning; if users feel it, the SLO burn pages.
            with_traffic_floor(
                settings,
                "provider:gen_ai_client_operation_errors:ratio_rate5m >= 0.99",
                "provider:gen_ai_client_operations:rate5m",
                "service, gen_ai_provider_name",
            )
            + " and on (service) (count by (service) (provider:gen_ai_client_operation_errors:ratio_rate5m < 0.5) > 0)",
            for_="5m",
            severity="warning",
            summary="An LLM provider is failing every call while others serve.",
            description=(
                "Every call to {{ $labels.gen_ai_provider_name }} has failed for {pending} while other providers "
                "answer; the router should be failing over."
            ),
        ),
        alert(
            settings,
            names.PROVIDER_RATE_LIMITED,
            with_traffic_floor(
                settings,
                "provider:gen_ai_client_operations_rate_limited:ratio_rate5m > "
                + number(thresholds.provider_rate_limited_ratio),
                "provider:gen_ai_client_operations:rate5m",
                "service, gen_ai_provider_name",
            ),
            for_="10m",
            severity="warning",
            summary="An LLM provider refuses calls with 429: quota or rate limit reached.",
            description=fill(
                "{{ $value | humanizePercentage }} of calls to {{ $labels.gen_ai_provider_name }} were refused "
                "with 429 over 5 minutes (threshold {threshold}): raise the quota or spread the load.",
                threshold=percent(thresholds.provider_rate_limited_ratio),
            ),
        ),
        alert(
            settings,
            names.ROUTER_FALLBACK_STORM,
            with_traffic_floor(
                settings,
                f"service:gateway_router_fallbacks:ratio_rate5m > {number(thresholds.fallback_ratio)}",
                "service:gateway_router_decisions:rate5m",
                "service",
            ),
            for_="10m",
            severity="warning",
            summary="The router is falling back to other providers for many requests.",
            description=fill(
                "{{ $value | humanizePercentage }} of routing decisions fell back to another provider over "
                "5 minutes (threshold {threshold}).",
                threshold=percent(thresholds.fallback_ratio),
            ),
        ),
        alert(
            settings,
            names.FALLBACK_CHAINS_FAILING,
            with_traffic_floor(
                settings,
                f"service:gateway_llm_fallback_exhausted:ratio_rate5m > {number(thresholds.fallback_exhausted_ratio)}",
                "sum(service:gateway_router_decisions:rate5m)",
                "",
            ),
            for_="5m",
            severity="warning",
            summary="Requests fail because the router's fallback failed too.",
            description=fill(
                "{{ $value | humanizePercentage }} of routed requests found every provider failing over 5 minutes "
                "(threshold {threshold}): no fallback is left for them.",
                threshold=percent(thresholds.fallback_exhausted_ratio),
            ),
        ),
        router_stalled(settings),
    ]


def router_stalled(settings: Settings) -> dict:
    """Requests arrive (at Kong, else at the Unified LLM API) but the router
    decides nothing: every LLM request waits or fails. A total failure that
    no error ratio sees while requests hang, so it pages."""
    # A short window: a stall shows once a whole window passed without a
    # decision, so the window is part of the time to notify. Traffic is
    # counted over the same window: over 5 minutes, traffic near the floor
    # (a game day's 5 requests a minute) passed it while one quiet minute,
    # no request and so no decision, looked like a stall and paged.
    window = stall_window(settings).prometheus()
    if has_kong(settings):
        traffic, where = f"sum(rate(kong_http_requests_total[{window}]))", "Kong"
    else:
        traffic, where = f'sum(rate(http_server_request_duration_seconds_count{{service="unified-llm-api"}}[{window}]))', "the Unified LLM API"
    floor = number(settings.alerting.thresholds.min_requests_per_second)
    # A decision either raises a counter the window already held, or starts
    # a series (a provider, model and reason not chosen before): rate() sees
    # only the first, so a series new in the window counts as a decision too.
    # Without it, a router choosing new combinations at low traffic (just
    # started, or most calls failing over) paged as stalled (game day).
    decisions = "gateway_router_decisions_total"
    decided = f"(sum(rate({decisions}[{window}])) > 0) or (count({decisions} unless {decisions} offset {window}) > 0)"
    return alert(
        settings,
        names.ROUTER_STALLED,
        f"({traffic} >= {floor}) unless on () ({decided})",
        for_="5m",
        severity="critical",
        labels={"service": "intelligent-router"},
        summary="Traffic arrives but the Intelligent Router makes no routing decisions.",
        description=(
            f"{where} receives {{{{ $value | humanize }}}} requests/s, and the router has decided nothing for "
            f"{window} plus {{pending}}: LLM requests hang or fail."
        ),
    )


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
        alert(
            settings,
            names.LLM_SPEND_PROJECTED_OVER_BUDGET,
            # A run-rate: the last hour's pace over a whole day.
            f"service:gateway_llm_cost_usd:rate1h * 86400 > {number(thresholds.daily_budget_usd)}",
            for_="30m",
            severity="warning",
            summary="At the current pace, a day's LLM spend passes the daily budget.",
            description=fill(
                "{{ $labels.service }} spends at {{ $value | printf \"%.2f\" }} USD per day at the last hour's "
                "pace (daily budget {budget} USD).",
                budget=number(thresholds.daily_budget_usd),
            ),
        ),
    ]


def cache_alerts(settings: Settings) -> list[dict]:
    factor = settings.alerting.thresholds.cache_hit_collapse_factor
    hit_ratio = "service:gateway_optimization_cache_hits:ratio_rate5m"
    return [
        alert(
            settings,
            names.CACHE_HIT_RATIO_COLLAPSE,
            with_traffic_floor(
                settings,
                f"{hit_ratio} < {number(factor)} * ({hit_ratio} offset 1d)",
                "service:gateway_optimization_cache_lookups:rate5m",
                "service",
            ),
            for_="30m",
            severity="warning",
            summary="The optimization cache answers far fewer requests than a day ago.",
            description=fill(
                "{{ $labels.service }} answers {{ $value | humanizePercentage }} of lookups from its cache, under "
                "{factor} of its hit ratio a day ago: more calls, tokens and spend reach the providers.",
                factor=percent(factor),
            ),
        ),
    ]




# The series the gateway's alerts read besides the SLIs' (GatewaySLIAbsent
# watches those), with the service that exports them. Series born with their
# first failure (fallbacks, exhausted chains) are not here: their absence
# means no failure (tests/test_alert_coverage.py holds the list to the rules).
# The cache's misses are watched with its hits: either one is the cache at work.
WATCHED_METRICS = {
    "gateway_router_decisions_total": ("intelligent-router", ()),
    "gateway_optimization_cache_misses_total": ("optimization-service", ("gateway_optimization_cache_hits_total",)),
    "gen_ai_client_operation_duration_seconds_count": ("unified-llm-api", ()),
    "gen_ai_client_token_usage_sum": ("unified-llm-api", ()),
    "gateway_llm_cost_usd_total": ("unified-llm-api", ()),
}


def metric_absent_alerts(settings: Settings) -> list[dict]:
    """GatewayMetricAbsent for each WATCHED_METRICS series of a configured
    service: there within the last day, gone for 15 minutes while the service
    serves requests (POST: its API; probes are GETs). A quiet night after a
    restart leaves a metric unborn and fires nothing: nothing is served."""
    configured = {s.name for s in settings.gateway_services}
    rules = []
    for metric, (service, alternatives) in WATCHED_METRICS.items():
        if service not in configured:
            continue
        family = (metric, *alternatives)
        gone = " and on () ".join(f'absent_over_time({m}{{service="{service}"}}[15m])' for m in family)
        seen = " or ".join(f'present_over_time({m}{{service="{service}"}}[1d])' for m in family)
        serving = (
            'sum(rate(http_server_request_duration_seconds_count'
            f'{{service="{service}", http_request_method="POST"}}[15m])) > 0'
        )
        rules.append(
            alert(
                settings,
                names.METRIC_ABSENT,
                f"{gone} and on () count({seen}) > 0 and on () {serving}",
                for_="15m",
                severity="warning",
                labels={"service": service, "metric": metric},
                summary="A metric the gateway's alerts read is gone while its service serves.",
                description=(
                    f"{{{{ $labels.service }}}} exported {metric} within the last day but none for 15 minutes plus "
                    "{pending}, while it serves requests: the alerts that read it are blind (a renamed metric, "
                    "an instrumentation removed)."
                ),
            )
        )
    return rules


def gateway_alert_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "gateway-availability.alerts", "rules": availability_alerts(settings)},
        {"name": "gateway-latency.alerts", "rules": latency_alerts(settings)},
        {"name": "gateway-providers.alerts", "rules": provider_alerts(settings)},
        {"name": "gateway-cost.alerts", "rules": cost_alerts(settings) + cache_alerts(settings)},
        {"name": "gateway-metrics.alerts", "rules": metric_absent_alerts(settings)},
    ]
