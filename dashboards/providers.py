"""LLM providers and models: traffic, errors (and where they came from),
latency, time to first token and time per output token per provider and
model; tokens per second; spend per hour and per day against the
budget in settings; fallbacks; and Kong's AI metrics beside the services'
own, so a difference between the two is seen."""

from __future__ import annotations

from dashboards.board import (
    Board,
    ENV,
    FAILED,
    PROVIDER_FAILED,
    PROVIDER_MODEL,
    RATE,
    TOKENS_PER_SECOND,
    data_link,
    environment_variable,
    graph,
    model_variable,
    promql,
    provider_variable,
    quantile,
    single_stat,
    thresholds,
)
from gateway_telemetry.contract import UNIFIED_LLM_API
from stack import alert_names as names
from stack.alerting.rule import ratio, sum_rate
from stack.settings import Settings

CALLS = "gen_ai_client_operation_duration_seconds"
SELECTOR = f"{{{ENV}, {PROVIDER_MODEL}}}"
BY = "gen_ai_provider_name, gen_ai_request_model"
LEGEND = "{{gen_ai_provider_name}} {{gen_ai_request_model}}"
# The budget is for all spend: its panels ignore the provider and model chosen.
SPEND = 'gen_ai_provider_name=~".+"'
KONG_AI = f'{{{ENV}, ai_provider=~"$provider", ai_model=~"$model"}}'


def _rate(metric: str, matchers: str = "", by: str = BY, window: str = RATE) -> str:
    return sum_rate(metric, by, window, f"{{{ENV}, {PROVIDER_MODEL}{matchers}}}")


def _increase(metric: str, window: str, by: str = BY, matchers: str = PROVIDER_MODEL) -> str:
    return f"sum by ({by}) (increase({metric}{{{ENV}, {matchers}}}[{window}]))"


def build(settings: Settings) -> Board:
    limits = settings.alerting.thresholds
    budget = limits.hourly_budget_usd
    board = Board(
        "providers",
        "AI gateway: LLM providers and models",
        "Traffic, errors, latency, tokens and spend per LLM provider and model, Kong's AI metrics beside them.",
    )
    board.variables = [environment_variable(), provider_variable(), model_variable()]
    to_logs = data_link("Logs of the Unified LLM API", "logs", service="unified-llm-api")

    board.row("Calls")
    board.add(
        graph(
            "Call rate",
            "LLM calls per second by provider and model, as the Unified LLM API makes them.",
            "reqps",
            promql(_rate(f"{CALLS}_count"), LEGEND),
        ),
        8,
    )
    total = _rate(f"{CALLS}_count")
    failed = _rate(f"{CALLS}_count", matchers=f", {PROVIDER_FAILED}")
    board.add(
        graph(
            "Error ratio",
            f"Share of calls that failed through the provider, by provider and model, as the alerts count them ({PROVIDER_FAILED}: not the caller's own bad requests). Past the alert threshold the router should be falling back: see Fallbacks; Errors by source and the logs say why (error_type, upstream_status).",
            "percentunit",
            promql(ratio(failed, total), LEGEND),
            limits=thresholds((limits.provider_error_ratio, "red")),
            decimals=3,
        ).data_links([to_logs]),
        8,
    )
    board.add(
        graph(
            "Latency p95",
            "Duration of LLM calls (p95) by provider and model; dots are exemplars that open the call's trace.",
            "s",
            promql(quantile(0.95, CALLS, SELECTOR, BY), LEGEND, exemplar=True),
            limits=thresholds((limits.provider_latency_p95_seconds, "red")),
        ),
        8,
    )
    board.add(
        graph(
            "Time to first token p95",
            "How long a streamed answer takes to start, by provider and model; dots are exemplars. What a chat user feels as lag.",
            "s",
            promql(
                quantile(0.95, "gateway_llm_time_to_first_token_seconds", SELECTOR, BY),
                LEGEND,
                exemplar=True,
            ),
            limits=thresholds((limits.time_to_first_token_p95_seconds, "red")),
        ),
        8,
    )
    tpot_threshold = settings.slo_for(UNIFIED_LLM_API.name).time_per_output_token_threshold_seconds
    board.add(
        graph(
            "Time per output token p95",
            f"Time between the output tokens of a streamed answer after the first (successful streamed calls), by provider and model; dots are exemplars. What a chat user feels as a slow typist; the line is the SLO's threshold ({tpot_threshold:g} s, slo.<service>.timePerOutputTokenThresholdSeconds): a p95 above it spends that SLO's budget.",
            "s",
            promql(
                quantile(0.95, "gateway_llm_time_per_output_token_seconds", SELECTOR, BY),
                LEGEND,
                exemplar=True,
            ),
            limits=thresholds((tpot_threshold, "red")),
            decimals=3,
        ),
        8,
    )
    board.add(
        graph(
            "Tokens",
            "Input and output tokens per second, by provider and token type, stacked. Output far above input is long answers; a spike is worth a look at who calls (logs).",
            TOKENS_PER_SECOND,
            promql(
                _rate("gen_ai_client_token_usage_sum", by="gen_ai_provider_name, gen_ai_token_type"),
                "{{gen_ai_provider_name}} {{gen_ai_token_type}} tokens/s",
            ),
            stacked=True,
            decimals=1,
        ),
        8,
    )
    board.add(
        graph(
            "Fallbacks",
            "Requests the router sent to another provider, by reason and by the provider it left. Only failures show here: empty is healthy.",
            "reqps",
            promql(
                f'sum by (from_provider, to_provider, reason) (rate(gateway_router_fallbacks_total{{{ENV}, from_provider=~"$provider"}}[{RATE}]))',
                "{{from_provider}} → {{to_provider}} ({{reason}})",
            ),
        ),
        12,
        failures_only=True,
    )
    board.add(
        graph(
            "Errors by source",
            "Failed calls per second of the chosen providers (every model) by provider and where they failed (error_source): provider (an error answer, or unreachable), timeout, rate_limit (a 429), internal (a bug on our side), client (the caller's own bad request: 400, 413, 422). The error ratio counts only those of them the provider caused. Only failures show here: empty is healthy.",
            "reqps",
            promql(
                sum_rate(
                    f"{CALLS}_count",
                    "gen_ai_provider_name, error_source",
                    RATE,
                    f'{{{ENV}, gen_ai_provider_name=~"$provider", {FAILED}}}',
                ),
                "{{gen_ai_provider_name}} {{error_source}}",
            ),
            stacked=True,
        ),
        12,
        failures_only=True,
    )

    board.row("Spend")
    board.add(
        graph(
            "Cost per hour",
            f"US dollars spent in the last hour, by provider and model, against the hourly budget (${budget:g}, alerting.thresholds.hourlyBudgetUsd).",
            "currencyUSD",
            promql(_increase("gateway_llm_cost_usd_total", "1h"), LEGEND),
            stacked=True,
            limits=thresholds((budget, "red")),
        ),
        12,
    )
    board.add(
        single_stat(
            "Cost in the last 24 hours",
            f"Spend over the last day, every provider and model, against 24 × the hourly budget (${24 * budget:g}).",
            "currencyUSD",
            promql(f'sum({_increase("gateway_llm_cost_usd_total", "1d", matchers=SPEND)})'),
            limits=thresholds((0.8 * 24 * budget, "orange"), (24 * budget, "red")),
        ),
        6,
    )
    board.add(
        single_stat(
            "Budget used this hour",
            f"Share of the hourly budget spent in the last hour, every provider and model (as the alert counts). Over 100% raises {names.LLM_SPEND_OVER_BUDGET}.",
            "percentunit",
            promql(f'sum({_increase("gateway_llm_cost_usd_total", "1h", matchers=SPEND)}) / {budget:g}'),
            limits=thresholds((0.8, "orange"), (1, "red")),
        ),
        6,
    )

    board.row("Kong's AI metrics", collapsed=True)
    board.add(
        graph(
            "Kong AI requests",
            "AI Proxy requests per second by provider and model as Kong counts them (needs logging.log_statistics on the plugin). A gap to the services' call rate is traffic that bypasses Kong, or retries. Kong names some providers its own way (bedrock, gemini): choose All providers to see those.",
            "reqps",
            promql(
                f"sum by (ai_provider, ai_model) (rate(kong_ai_llm_requests_total{KONG_AI}[{RATE}]))",
                "{{ai_provider}} {{ai_model}}",
            ),
        ),
        8,
    )
    board.add(
        graph(
            "Kong AI tokens",
            "Tokens per second by provider and type as Kong counts them; compare with the services' Tokens above.",
            TOKENS_PER_SECOND,
            promql(
                f"sum by (ai_provider, token_type) (rate(kong_ai_llm_tokens_total{KONG_AI}[{RATE}]))",
                "{{ai_provider}} {{token_type}} tokens/s",
            ),
            decimals=1,
        ),
        8,
    )
    board.add(
        graph(
            "Kong AI cost per hour",
            "Spend in the last hour as Kong prices it (model costs configured on the plugin).",
            "currencyUSD",
            promql(
                f"sum by (ai_provider, ai_model) (increase(kong_ai_llm_cost_total{KONG_AI}[1h]))", "{{ai_provider}} {{ai_model}}"
            ),
        ),
        8,
    )
    board.add(
        graph(
            "Kong AI provider latency p95",
            "Provider latency (p95) as Kong sees it; compare with the services' call latency above.",
            "ms",
            promql(
                quantile(0.95, "kong_ai_llm_provider_latency_ms", KONG_AI, "ai_provider"),
                "{{ai_provider}}",
                exemplar=True,
            ),
        ),
        24,
    )
    return board
