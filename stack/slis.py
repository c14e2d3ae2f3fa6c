"""Which service level indicators each gateway service has, and what each
one measures: the one place the settings (objectives, thresholds), the SLO
rules and alerts (stack/alerting/slo.py) and the SLO board read it from.
Imports nothing of the stack, so stack.settings can use it.

- availability: the share of requests that did not fail (one definition,
  contract.FAILED_REQUEST_MATCHER; Kong: not a 5xx). Every service has it.
- latency: the share of requests answered within a threshold, for services
  whose requests are short. Not for the Unified LLM API, whose requests last
  as long as the generation (a long answer is not a slow one), nor for Kong,
  which fronts it: the OTel GenAI conventions and LLM gateways measure what
  users feel of a stream instead:
- time_to_first_token: the share of streamed LLM calls whose first token came
  within a threshold;
- time_per_output_token: the share of successful streamed LLM calls whose
  tokens after the first came at most a threshold apart on average
  (gen_ai.server.time_per_output_token).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_telemetry.contract import (
    FAILED_REQUEST_MATCHER,
    GEN_AI_TIME_PER_OUTPUT_TOKEN_BUCKETS,
    GEN_AI_TIME_TO_FIRST_TOKEN_BUCKETS,
    KONG,
    latency_buckets_seconds,
    service_contract,
)

AVAILABILITY = "availability"
LATENCY = "latency"
TIME_TO_FIRST_TOKEN = "time_to_first_token"
TIME_PER_OUTPUT_TOKEN = "time_per_output_token"
SLI_NAMES = (AVAILABILITY, LATENCY, TIME_TO_FIRST_TOKEN, TIME_PER_OUTPUT_TOKEN)
_STREAMING_METRIC = "gateway_llm_time_to_first_token_seconds"


@dataclass(frozen=True)
class Events:
    """How one SLI counts: `total` is a counter (or a histogram's _count) of
    every event; a bad event is one of `failed` (a selector of that counter,
    without braces) or, for a latency SLI, one not in `histogram`'s bucket
    at the threshold (seconds)."""

    total: str
    failed: str = ""
    histogram: str = ""


def service_slis(service: str) -> tuple[str, ...]:
    """The SLIs of a gateway service (names from SLI_NAMES), by what its
    telemetry contract exports; a service the contract does not know is
    taken for a kit-instrumented HTTP service."""
    if service == KONG.name:
        return (AVAILABILITY,)
    contract = service_contract(service)
    if contract is not None and any(m.name == _STREAMING_METRIC for m in contract.metrics):
        return (AVAILABILITY, TIME_TO_FIRST_TOKEN, TIME_PER_OUTPUT_TOKEN)
    return (AVAILABILITY, LATENCY)


def events(service: str, sli: str) -> Events:
    """What the SLI of `service` counts (see Events); KeyError for an SLI it has not."""
    if sli not in service_slis(service):
        raise KeyError(f"{service} has no {sli} SLI")
    if service == KONG.name:
        return Events("kong_http_requests_total", failed='code=~"5.."')
    if sli == AVAILABILITY:
        return Events("http_server_request_duration_seconds_count", failed=FAILED_REQUEST_MATCHER)
    if sli == LATENCY:
        return Events("http_server_request_duration_seconds_count", histogram="http_server_request_duration_seconds")
    metric = _STREAMING_METRIC if sli == TIME_TO_FIRST_TOKEN else "gateway_llm_time_per_output_token_seconds"
    return Events(f"{metric}_count", histogram=metric)


def threshold_buckets(service: str, sli: str) -> tuple[float, ...]:
    """The histogram bounds (seconds) an SLI's threshold must be one of, so the ratio is exact."""
    if sli == LATENCY:
        return latency_buckets_seconds(service)
    if sli == TIME_TO_FIRST_TOKEN:
        return GEN_AI_TIME_TO_FIRST_TOKEN_BUCKETS
    if sli == TIME_PER_OUTPUT_TOKEN:
        return GEN_AI_TIME_PER_OUTPUT_TOKEN_BUCKETS
    return ()
