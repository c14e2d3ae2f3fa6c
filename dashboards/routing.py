"""Router and optimization: what the Intelligent Router chooses and why,
where it falls back and how often even the fallback fails, and what the
Optimization Service's cache and prompt compression save in tokens per
second and dollars."""

from __future__ import annotations

from dashboards.board import (
    ENV,
    FAILED,
    RATE,
    TOKENS_PER_SECOND,
    Board,
    bars,
    environment_variable,
    graph,
    grid,
    promql,
    single_stat,
    thresholds,
)
from stack import alert_names as names
from stack.alerting.rule import ratio, share, sum_rate, zero_when_absent
from stack.settings import Settings

SELECTOR = f"{{{ENV}}}"


def _rate(metric: str, by: str) -> str:
    return sum_rate(metric, by, RATE, SELECTOR)


def cost_per_token_by_model() -> str:
    """US dollars per token each model has cost over the last hour: spend over
    tokens, both as the Unified LLM API counts them."""
    spend = f"sum by (gen_ai_request_model) (rate(gateway_llm_cost_usd_total{SELECTOR}[1h]))"
    tokens = f"sum by (gen_ai_request_model) (rate(gen_ai_client_token_usage_sum{SELECTOR}[1h]))"
    return f"({spend} / {tokens})"


def build(settings: Settings) -> Board:
    board = Board(
        "routing",
        "AI gateway: router and optimization",
        "Routing decisions and fallbacks of the Intelligent Router, the requests no provider could serve; cache hits and the tokens and dollars the Optimization Service saves.",
    )
    board.variables = [environment_variable()]

    board.row("Intelligent Router")
    board.add(
        graph(
            "Decisions by provider and model",
            "Routing decisions per second by the provider and model chosen. A shift here without a settings change means the router reacted to cost, latency or errors: see the reason.",
            "reqps",
            promql(
                _rate("gateway_router_decisions_total", "gen_ai_provider_name, gen_ai_request_model"),
                "{{gen_ai_provider_name}} {{gen_ai_request_model}}",
            ),
            stacked=True,
        ),
        12,
    )
    board.add(
        graph(
            "Decisions by reason",
            "Why the router chose as it did: cost, latency, quality or a pinned model. Many latency decisions mean a provider is slow.",
            "reqps",
            promql(_rate("gateway_router_decisions_total", "reason"), "{{reason}}"),
            stacked=True,
        ),
        12,
    )
    limits = settings.alerting.thresholds
    decisions = f"sum(rate(gateway_router_decisions_total{SELECTOR}[{RATE}]))"
    fallbacks = f"sum(rate(gateway_router_fallbacks_total{SELECTOR}[{RATE}]))"
    board.add(
        single_stat(
            "Fallback ratio",
            "Share of routed requests that fell back to another provider. Above the alert threshold a provider is failing: see the provider board.",
            "percentunit",
            promql(ratio(fallbacks, decisions)),
            limits=thresholds((limits.fallback_ratio, "red")),
            decimals=1,
        ),
        6,
    )
    exhausted = f"sum(rate(gateway_llm_fallback_exhausted_total{SELECTOR}[{RATE}]))"
    board.add(
        single_stat(
            "Every provider failed",
            f"Share of routed requests whose first provider and fallback both failed: the caller got a 502 (a 429 when the last one was rate limiting). Above {limits.fallback_exhausted_ratio:.1%} (alerting.thresholds.fallbackExhaustedRatio) raises {names.FALLBACK_CHAINS_FAILING}: the fallback chain no longer saves anyone, see below which provider was tried last and why.",
            "percentunit",
            promql(ratio(exhausted, decisions)),
            limits=thresholds((limits.fallback_exhausted_ratio, "red")),
            decimals=2,
        ),
        6,
    )
    board.add(
        grid(
            "Fallback chains",
            "Fallbacks over the time range, by the provider left, the one taken and the reason. Only failures show here: empty is healthy.",
            "short",
            promql(
                f"sum by (from_provider, to_provider, reason) (increase(gateway_router_fallbacks_total{SELECTOR}[$__range])) > 0",
                instant=True,
                table_format=True,
            ),
            decimals=0,
        ),
        12,
        failures_only=True,
    )
    by_last = "gen_ai_provider_name, error_source"
    board.add(
        graph(
            "Every provider failed, by the last provider and why",
            "Requests per second no provider could serve, by the provider tried last and where it failed (error_source: provider, timeout, rate_limit, internal). Each provider and source whose calls failed at all in the window has a line, at 0 while the fallback rescued every such request; a line above 0 is callers answered 502 or 429.",
            "reqps",
            promql(
                zero_when_absent(
                    sum_rate("gateway_llm_fallback_exhausted_total", by_last, RATE, SELECTOR),
                    sum_rate("gen_ai_client_operation_duration_seconds_count", by_last, RATE, f"{{{ENV}, {FAILED}}}"),
                ),
                "{{gen_ai_provider_name}} {{error_source}}",
            ),
            decimals=3,
        ),
        24,
        7,
    )

    board.row("Optimization Service")
    hits = _rate("gateway_optimization_cache_hits_total", "cache")
    misses = _rate("gateway_optimization_cache_misses_total", "cache")
    board.add(
        graph(
            "Cache hit ratio",
            "Share of lookups the cache answered, by cache. A fall after a deploy means keys changed (prompt templates, model names).",
            "percentunit",
            promql(share(hits, misses), "{{cache}}"),
            limits=thresholds((0.2, "orange"), (0.4, "green"), base="red"),
        ),
        8,
    )
    board.add(
        graph(
            "Tokens saved",
            "Tokens per second not sent to a provider, by technique (cache, prompt compression), stacked.",
            TOKENS_PER_SECOND,
            promql(_rate("gateway_optimization_tokens_saved_total", "technique"), "{{technique}} tokens/s"),
            stacked=True,
            decimals=1,
        ),
        8,
    )
    saved = f"sum by (gen_ai_request_model) (rate(gateway_optimization_tokens_saved_total{SELECTOR}[1h]))"
    board.add(
        bars(
            "Cost saved per hour",
            "Tokens saved in the last hour priced at what each model has cost per token in the last hour (spend over tokens, as the Unified LLM API counts them): an estimate.",
            "currencyUSD",
            promql(f"3600 * {saved} * {cost_per_token_by_model()}", "{{gen_ai_request_model}}", instant=True),
        ),
        8,
    )
    return board
