"""Recording rules (`level:metric:operations`) that alerts and dashboards share."""

from __future__ import annotations

from gateway_telemetry.contract import FAILED_REQUEST_MATCHER
from stack.alerting.rule import has_kong, ratio, record, share, sum_rate, zero_when_absent
from stack.settings import Settings

# A provider's failed calls, less those the caller's request caused
# (gateway_telemetry.errors.CLIENT_CAUSED_PROVIDER_STATUSES) and its 429s,
# which are the quota's alert (GatewayProviderRateLimited), not an outage's.
PROVIDER_ERRORS = '{error_type!="", error_source!~"client|rate_limit"}'


def _p95(metric: str, by: str) -> str:
    return f"histogram_quantile(0.95, sum by ({by}, le) (rate({metric}_bucket[5m])))"


def http_rules() -> list[dict]:
    count = "http_server_request_duration_seconds_count"
    return [
        record("service:http_server_requests:rate5m", sum_rate(count, "service")),
        # Failed as the contract defines it: 5xx, exceptions and broken streams alike.
        record("service:http_server_request_errors:rate5m", sum_rate(count, "service", selector=f"{{{FAILED_REQUEST_MATCHER}}}")),
        record(
            "service:http_server_request_errors:ratio_rate5m",
            ratio("service:http_server_request_errors:rate5m", "service:http_server_requests:rate5m"),
        ),
        record("service:http_server_request_duration_seconds:p95_rate5m", _p95("http_server_request_duration_seconds", "service")),
    ]


def kong_rules() -> list[dict]:
    by = "service, exported_service"
    return [
        record("kong_service:kong_http_requests:rate5m", sum_rate("kong_http_requests_total", by)),
        record("kong_service:kong_http_requests_5xx:rate5m", sum_rate("kong_http_requests_total", by, selector='{code=~"5.."}')),
        record(
            "kong_service:kong_http_requests_5xx:ratio_rate5m",
            ratio("kong_service:kong_http_requests_5xx:rate5m", "kong_service:kong_http_requests:rate5m"),
        ),
        record("service:kong_request_latency_ms:p95_rate5m", _p95("kong_request_latency_ms", "service")),
        record("provider_model:kong_ai_llm_requests:rate5m", sum_rate("kong_ai_llm_requests_total", "service, ai_provider, ai_model")),
    ]


def provider_rules() -> list[dict]:
    count = "gen_ai_client_operation_duration_seconds_count"
    rules = []
    for level, by in (
        ("provider_model", "service, gen_ai_provider_name, gen_ai_request_model"),
        ("provider", "service, gen_ai_provider_name"),
    ):
        rules += [
            record(f"{level}:gen_ai_client_operations:rate5m", sum_rate(count, by)),
            # The provider's errors: not the calls the caller's own request made fail.
            record(f"{level}:gen_ai_client_operation_errors:rate5m", sum_rate(count, by, selector=PROVIDER_ERRORS)),
            record(
                f"{level}:gen_ai_client_operation_errors:ratio_rate5m",
                ratio(f"{level}:gen_ai_client_operation_errors:rate5m", f"{level}:gen_ai_client_operations:rate5m"),
            ),
        ]
    rules += [
        record(
            "provider:gen_ai_client_operations_rate_limited:ratio_rate5m",
            ratio(
                sum_rate(count, "service, gen_ai_provider_name", selector='{error_source="rate_limit"}'),
                "provider:gen_ai_client_operations:rate5m",
            ),
        ),
        record(
            "provider_model:gateway_llm_time_per_output_token_seconds:p95_rate5m",
            _p95("gateway_llm_time_per_output_token_seconds", "service, gen_ai_provider_name, gen_ai_request_model"),
        ),
        # Share of routed requests (one routing decision each) whose every
        # provider failed; absent until the first such request.
        record(
            "service:gateway_llm_fallback_exhausted:ratio_rate5m",
            sum_rate("gateway_llm_fallback_exhausted_total", "service")
            + " / on () group_left sum(rate(gateway_router_decisions_total[5m]))",
        ),
        record("service:gateway_llm_cost_usd:rate1h", "sum by (service) (rate(gateway_llm_cost_usd_total[1h]))"),
        record(
            "provider:gen_ai_client_operation_duration_seconds:p95_rate5m",
            _p95("gen_ai_client_operation_duration_seconds", "service, gen_ai_provider_name"),
        ),
        record(
            "provider_model:gateway_llm_time_to_first_token_seconds:p95_rate5m",
            _p95("gateway_llm_time_to_first_token_seconds", "service, gen_ai_provider_name, gen_ai_request_model"),
        ),
        record(
            "provider_model:gen_ai_client_token_usage:rate5m",
            sum_rate("gen_ai_client_token_usage_sum", "service, gen_ai_provider_name, gen_ai_request_model, gen_ai_token_type"),
        ),
        record(
            "service:gateway_llm_cost_usd:increase1h",
            "sum by (service) (increase(gateway_llm_cost_usd_total[1h]))",
        ),
        record(
            "provider_model:gateway_llm_cost_usd:increase1h",
            "sum by (service, gen_ai_provider_name, gen_ai_request_model) (increase(gateway_llm_cost_usd_total[1h]))",
        ),
    ]
    return rules


def router_and_cache_rules() -> list[dict]:
    hits = sum_rate("gateway_optimization_cache_hits_total", "service")
    misses = sum_rate("gateway_optimization_cache_misses_total", "service")
    return [
        record("service:gateway_router_decisions:rate5m", sum_rate("gateway_router_decisions_total", "service")),
        record("service:gateway_router_fallbacks:rate5m", sum_rate("gateway_router_fallbacks_total", "service")),
        record(
            "service:gateway_router_fallbacks:ratio_rate5m",
            ratio("service:gateway_router_fallbacks:rate5m", "service:gateway_router_decisions:rate5m"),
        ),
        record("service:gateway_optimization_cache_hits:ratio_rate5m", share(hits, misses)),
        record("service:gateway_optimization_cache_lookups:rate5m", f"{zero_when_absent(hits, misses)} + {zero_when_absent(misses, hits)}"),
    ]


def recording_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "gateway-http.rules", "rules": http_rules() + (kong_rules() if has_kong(settings) else [])},
        {"name": "gateway-llm.rules", "rules": provider_rules() + router_and_cache_rules()},
    ]
