"""The game day's incidents and the pages each should raise: receiver,
alertname, severity, nothing more and nothing less. Receivers follow the
drill's routing (harness.DRILL): critical -> pager and chat, warning -> chat,
info -> tickets, the Watchdog -> heartbeat.

Live incidents play on the demo gateway (harness.py); synthetic ones replay
hours or days of written history through promtool (synthetic.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from gameday.harness import Incident, Page, Setup
from gameday.synthetic import SyntheticScenario, counter, healthy_background, labels, production_settings, target
from live import query

from stack import alert_names as names


def paged(alertname: str) -> frozenset[Page]:
    """A critical alert: the pager and the chat channel."""
    return frozenset({Page("pager", alertname, "critical"), Page("chat", alertname, "critical")})


def warned(*alertnames: str) -> frozenset[Page]:
    """Warnings: the chat channel only."""
    return frozenset(Page("chat", name, "warning") for name in alertnames)


def ticket(alertname: str) -> frozenset[Page]:
    return frozenset({Page("tickets", alertname, "info")})


@dataclass(frozen=True)
class LiveScenario:
    """An incident played on the live stack.

    key: a short id (also the receivers' URL path); incident: the table's words;
    expected: every page it must raise, and no other; fault: what breaks, called
    once the stack is quiet; horizon: seconds to watch after the fault;
    check: an extra assertion on the running incident (before it stops), or None;
    signal_window: seconds the alert's signal needs after the fault before its
    expression can be true (a rate window draining), part of its floor."""

    key: str
    incident: str
    expected: frozenset[Page]
    fault: Callable[[Incident], None]
    setup: Setup = field(default_factory=Setup)
    horizon: float = 50
    check: Optional[Callable[[Incident], Optional[str]]] = None
    signal_window: int = 0
    # The page is the dead man's switch's: the heartbeat stops arriving.
    dead_mans_switch: bool = False


def _kill(*processes) -> None:
    """By PID, without a goodbye."""
    for process in processes:
        process.kill()
        process.wait(10)


def _kill_replica(day: Incident, service: str) -> None:
    _kill(*day.replica_demos[service][0].processes.values())


def _kill_service(day: Incident, service: str) -> None:
    _kill(day.demo.processes[service], *(p for replica in day.replica_demos.get(service, []) for p in replica.processes.values()))


def _openai_fails(day: Incident, **faults) -> None:
    """OpenAI fails from now on, and the load starts asking for its model:
    every call it gets fails (a 5-minute ratio diluted by earlier successes
    would take minutes to reach "every call")."""
    day.provider_faults(error_providers=["openai"], error_rate=1.0, **faults)
    day.load.models = (OPENAI, ANTHROPIC)


def _slo_ratio_above_burn_limit(incident: Incident) -> Optional[str]:
    """The failures were there: the 5m availability ratio passed the 14.4x
    limit, so only the traffic floor kept the page back. (A counter series
    born with its first failure shows in rate() from its second on.)"""
    found = query(incident.url("prometheus"), 'max_over_time(service:slo_availability_errors:ratio_rate5m{service="unified-llm-api"}[5m]) > 0.072')
    return None if found else "no burn to hold back: the 5m availability error ratio never passed the 14.4x limit"


def _heartbeat_stopped(incident: Incident) -> Optional[str]:
    """No resolved Watchdog reached the heartbeat: a dead man's switch would take it for a sign of life."""
    resolved = [b for r, _, b in incident.receivers.notifications(incident.key) if r == "heartbeat" and b["status"] != "firing"]
    return f"the heartbeat got {len(resolved)} resolved notifications" if resolved else None


OPENAI, ANTHROPIC = "gpt-4o-mini", "claude-3-5-haiku"
# The drill scrapes every 5 s: GatewayRouterStalled's window is its one-minute minimum.
STALL_SECONDS = 60

LIVE = (
    LiveScenario(
        "replica-down",
        "One of two Intelligent Router replicas stops; the other serves",
        warned(names.SERVICE_INSTANCE_DOWN),
        lambda day: _kill_replica(day, "intelligent-router"),
        Setup(replicas={"intelligent-router": 1}),
    ),
    LiveScenario(
        "service-down",
        "Every Intelligent Router replica stops",
        paged(names.SERVICE_DOWN) | paged(names.ERROR_BUDGET_BURN["availability"]),
        lambda day: _kill_service(day, "intelligent-router"),
        Setup(replicas={"intelligent-router": 1}),
    ),
    LiveScenario(
        "kong-replica-down",
        "One of two Kong instances stops answering",
        warned(names.SERVICE_INSTANCE_DOWN),
        lambda day: day.kong[1].stop(),
        Setup(kong_instances=2),
    ),
    LiveScenario(
        "provider-fallback",
        "OpenAI fails every call; the router falls back to Anthropic",
        warned(names.PROVIDER_DOWN, names.ROUTER_FALLBACK_STORM),
        _openai_fails,
        Setup(models=(ANTHROPIC,)),
    ),
    LiveScenario(
        "no-fallback",
        "Every provider fails every call: no fallback is left",
        paged(names.ERROR_BUDGET_BURN["availability"])
        | warned(names.FALLBACK_CHAINS_FAILING, names.PROVIDER_HIGH_ERROR_RATE, names.ROUTER_FALLBACK_STORM),
        lambda day: day.provider_faults(error_rate=1.0),
    ),
    LiveScenario(
        "rate-limited",
        "OpenAI answers 429 (quota reached); the router falls back",
        warned(names.PROVIDER_RATE_LIMITED, names.ROUTER_FALLBACK_STORM),
        lambda day: _openai_fails(day, error_status=429),
        Setup(models=(ANTHROPIC,)),
    ),
    LiveScenario(
        "stream-breaks",
        "Streams break after their first chunk (every 200 is a failure)",
        paged(names.ERROR_BUDGET_BURN["availability"]) | warned(names.PROVIDER_HIGH_ERROR_RATE),
        lambda day: day.provider_faults(break_stream_rate=1.0),
        Setup(stream=True),
    ),
    LiveScenario(
        "slow-router",
        "The Intelligent Router answers in 1.5 s (its SLO: 1 s)",
        paged(names.ERROR_BUDGET_BURN["latency"]),
        lambda day: day.router_faults(delay_seconds=1.5),
    ),
    LiveScenario(
        "slow-first-token",
        "Time to first token goes from 25 ms to 3 s (its SLO: 2.5 s)",
        paged(names.ERROR_BUDGET_BURN["time_to_first_token"]),
        lambda day: day.provider_faults(time_to_first_token_ms=3000, latency_ms=3100),
        Setup(stream=True),
    ),
    LiveScenario(
        "low-traffic-errors",
        "Most requests fail at 5 requests a minute (under the traffic floor)",
        frozenset(),
        lambda day: day.provider_faults(error_rate=0.8),
        Setup(rate=5 / 60),
        horizon=90,
        check=_slo_ratio_above_burn_limit,
    ),
    LiveScenario(
        "spend-over-budget",
        "Spend passes the hourly budget (0.0001 USD for the drill)",
        warned(names.LLM_SPEND_OVER_BUDGET),
        # Until then the same prompt: the cache answers it, no provider is paid.
        lambda day: setattr(day.load, "fresh", True),
        Setup(settings={"alerting": {"thresholds": {"hourlyBudgetUsd": 0.0001}}}, fresh_prompts=False),
    ),
    LiveScenario(
        "router-stall",
        "The Intelligent Router stops deciding while Kong has traffic",
        # The router's callers time out after 60 s (examples/gateway/common.py): then users see errors too.
        paged(names.ROUTER_STALLED) | paged(names.ERROR_BUDGET_BURN["availability"]),
        lambda day: day.router_faults(delay_seconds=3600),
        horizon=STALL_SECONDS + 60,
        signal_window=STALL_SECONDS,
    ),
    LiveScenario(
        "loki-down",
        "Loki stops answering",
        paged(names.COMPONENT_DOWN["loki"]),
        lambda day: day.standins["loki"].stop(),
    ),
    LiveScenario(
        "alertmanager-peer-down",
        "One of three clustered Alertmanagers stops; the others notify",
        warned(names.INSTANCE_DOWN["alertmanager"]),
        lambda day: day.stop_process("alertmanager-2"),
        Setup(alertmanager_peers=3),
    ),
    LiveScenario(
        "prometheus-replica-down",
        "One of two Prometheus replicas stops; the other evaluates",
        warned(names.INSTANCE_DOWN["prometheus"]),
        lambda day: day.stop_process("prometheus-1"),
        Setup(prometheus_replicas=2),
    ),
    LiveScenario(
        "promtail-down",
        "The log shipper (Promtail) stops",
        warned(names.COMPONENT_DOWN["promtail"]),
        lambda day: day.standins["promtail"].stop(),
    ),
    LiveScenario(
        "watchdog-stops",
        "Prometheus dies: the Watchdog stops reaching the dead man's switch",
        frozenset(),
        lambda day: day.stop_process("prometheus"),
        horizon=75,
        check=_heartbeat_stopped,
        dead_mans_switch=True,
    ),
)


# --- synthetic: days of history through promtool (synthetic.py) ------------------------------

UNIFIED = target("unified-llm-api")
GEN_AI = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"}
DAY = 288  # 5-minute steps


def _slow_burn(steps: int) -> list[tuple[str, str]]:
    """Besides the background's 600 good requests per 5 min: three days with
    0.6 failed ones (0.1%), then 12 (2%): four times the 0.5% budget, under
    the 6x and 14.4x page limits."""
    failed = dict(UNIFIED, http_request_method="POST", http_route="/v1/x", http_response_status_code="502", error_type="502")
    return healthy_background(production_settings(), steps) + [
        (labels("http_server_request_duration_seconds_count", **failed), counter((0.6, 3 * DAY), (12, steps - 3 * DAY - 1))),
    ]


def _spend_pace(steps: int) -> list[tuple[str, str]]:
    """A day at 20 USD an hour, then 60 USD an hour: under the 100 USD hourly
    budget, but 1,440 USD a day at that pace, over the 1,000 USD daily budget."""
    cost = labels("gateway_llm_cost_usd_total", **UNIFIED, gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o")
    return healthy_background(production_settings(), steps) + [(cost, counter((20 / 12, DAY), (5, steps - DAY - 1)))]


def _ttft_regression(steps: int) -> list[tuple[str, str]]:
    """A week of streamed calls (300 per 5 min) with p95 time to first token
    near 0.49 s, then near 2.05 s: four times the same hour last week, still
    under the 2.5 s SLO threshold and the 5 s p95 alert."""
    week = 7 * DAY
    before = {"0.25": 100, "0.5": 295, "1": 300, "2.5": 300, "+Inf": 300}
    after = {"0.25": 0, "0.5": 0, "1": 250, "2.5": 300, "+Inf": 300}
    series = healthy_background(production_settings(), steps)
    ttft = "gateway_llm_time_to_first_token_seconds"
    for le in before:
        series.append((labels(f"{ttft}_bucket", **UNIFIED, **GEN_AI, le=le), counter((before[le], week), (after[le], steps - week - 1))))
    series.append((labels(f"{ttft}_count", **UNIFIED, **GEN_AI), counter((300, steps))))
    tpot = "gateway_llm_time_per_output_token_seconds"
    series += [(labels(f"{tpot}_bucket", **UNIFIED, **GEN_AI, le=le), counter((300, steps))) for le in ("0.1", "+Inf")]
    series.append((labels(f"{tpot}_count", **UNIFIED, **GEN_AI), counter((300, steps))))
    calls = labels("gen_ai_client_operation_duration_seconds_count", **UNIFIED, **GEN_AI, error_type="", error_source="")
    series.append((calls, counter((300, steps))))
    return series


def _cache_collapse(steps: int) -> list[tuple[str, str]]:
    """A day answering 60% of 300 lookups per 5 min from the cache, then 10%."""
    cache = dict(target("optimization-service"), cache="semantic")
    return healthy_background(production_settings(), steps) + [
        (labels("gateway_optimization_cache_hits_total", **cache), counter((180, DAY), (30, steps - DAY - 1))),
        (labels("gateway_optimization_cache_misses_total", **cache), counter((120, DAY), (270, steps - DAY - 1))),
    ]


SYNTHETIC = (
    SyntheticScenario(
        "slow-burn",
        "2% of requests fail for days: 4x the budget, below the page limits",
        ticket(names.ERROR_BUDGET_BURN["availability"]),
        _slow_burn, "5m", "3d", "4d12h", "15m",
    ),
    SyntheticScenario(
        "spend-pace",
        "Spend goes from 20 to 60 USD an hour: a day at that pace passes the 1,000 USD budget",
        warned(names.LLM_SPEND_PROJECTED_OVER_BUDGET),
        _spend_pace, "5m", "1d", "1d3h", "5m",
    ),
    SyntheticScenario(
        "ttft-regression",
        "Time to first token quadruples against the same hour last week, inside its SLO",
        warned(names.TIME_TO_FIRST_TOKEN_REGRESSION),
        _ttft_regression, "5m", "7d", "7d2h", "5m",
    ),
    SyntheticScenario(
        "cache-collapse",
        "The cache hit ratio falls from 60% to 10%",
        warned(names.CACHE_HIT_RATIO_COLLAPSE),
        _cache_collapse, "5m", "1d", "1d2h", "5m",
    ),
)
