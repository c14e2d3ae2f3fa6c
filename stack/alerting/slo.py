"""Multi-window, multi-burn-rate SLO alerts (Google SRE workbook, ch. 5),
generated per gateway service from the objectives in settings.

Two SLIs per service: availability (share of requests that are not 5xx) and
latency (share of requests faster than the service's threshold, which must be
a histogram bucket so the ratio is exact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stack import alert_names as names
from stack.alerting.rule import alert, fill, number, ratio, record, sum_rate, zero_when_absent
from gateway_telemetry.contract import KONG
from stack.settings import Settings


@dataclass(frozen=True)
class BurnRateWindow:
    factor: float
    long: str
    short: str
    for_: str
    severity: str  # critical pages; info is a business-hours ticket


BURN_RATE_WINDOWS = (
    BurnRateWindow(14.4, "1h", "5m", "2m", "critical"),
    BurnRateWindow(6, "6h", "30m", "15m", "critical"),
    BurnRateWindow(3, "1d", "2h", "1h", "info"),
    BurnRateWindow(1, "3d", "6h", "3h", "info"),
)
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SLIS = ("availability", "latency")


def le_matcher(bucket: float) -> str:
    """Matches the bucket however the exporter prints it: 30, 30.0, 0030000.0."""
    text = number(bucket)
    if "." not in text:
        return f"0*{text}(\\\\.0+)?"
    whole, fraction = text.split(".")
    return f"0*{whole.lstrip('0')}\\\\.{fraction}0*"


def _sum_rate(metric: str, service: str, window: str, matchers: str = "") -> str:
    return sum_rate(metric, "service", window, f'{{service="{service}"{matchers}}}')


def http_failure_ratio(matchers: str, window: str, by: str = "service") -> str:
    """Share of a kit service's requests that failed, per `by`: answered 5xx,
    or not answered at all (OTel omits the status code then and sets
    error_type); 0, not absent, when none failed. `matchers` selects the
    series (without braces). The SLO rules and the overview board read it."""
    metric = "http_server_request_duration_seconds_count"

    def rate(extra: str = "") -> str:
        return sum_rate(metric, by, window, f"{{{matchers}{extra}}}")

    total = rate()
    server_errors = rate(', http_response_status_code=~"5.."')
    no_response = rate(', http_response_status_code="", error_type!=""')
    return f"({zero_when_absent(server_errors, total)} + {zero_when_absent(no_response, total)}) / {total}"


def availability_error_ratio(service: str, window: str) -> str:
    if service == KONG.name:
        total = _sum_rate("kong_http_requests_total", service, window)
        return ratio(_sum_rate("kong_http_requests_total", service, window, ', code=~"5.."'), total)
    return http_failure_ratio(f'service="{service}"', window)


def latency_error_ratio(service: str, threshold_seconds: float, window: str) -> str:
    if service == KONG.name:
        metric, bucket = "kong_request_latency_ms", threshold_seconds * 1000
    else:
        metric, bucket = "http_server_request_duration_seconds", threshold_seconds
    fast = _sum_rate(f"{metric}_bucket", service, window, f', le=~"{le_matcher(bucket)}"')
    total = _sum_rate(f"{metric}_count", service, window)
    return f"1 - {fast} / {total}"


def sli_record(sli: str, window: str) -> str:
    return f"service:slo_{sli}_errors:ratio_rate{window}"


def slo_recording_rules(settings: Settings) -> list[dict]:
    rules = []
    for service in settings.gateway_services:
        threshold = settings.slo_for(service.name).latency_threshold_seconds
        for window in WINDOWS:
            # The static service label also keeps promtool's duplicate-rule lint satisfied.
            labels = {"service": service.name}
            rules.append(record(sli_record("availability", window), availability_error_ratio(service.name, window), labels))
            rules.append(record(sli_record("latency", window), latency_error_ratio(service.name, threshold, window), labels))
    return rules


_SUMMARIES = {
    "availability": "A gateway service is burning its availability error budget too fast.",
    "latency": "A gateway service is burning its latency error budget too fast.",
}
_DESCRIPTIONS = {
    "availability": (
        "{{ $labels.service }} failed {{ $value | humanizePercentage }} of requests over the last {long}: "
        "{factor}x the error budget of its {objective} availability objective."
    ),
    "latency": (
        "{{ $value | humanizePercentage }} of {{ $labels.service }} requests took longer than {threshold}s over the "
        "last {long}: {factor}x the budget of its {objective} latency objective."
    ),
}


def slo_alerts(settings: Settings) -> list[dict]:
    rules = []
    for sli in SLIS:
        for service in settings.gateway_services:
            slo = settings.slo_for(service.name)
            objective = slo.availability if sli == "availability" else slo.latency
            budget = 1 - objective
            for window in BURN_RATE_WINDOWS:
                limit = number(window.factor * budget)
                selector = f'{{service="{service.name}"}}'
                expr = (
                    f"{sli_record(sli, window.long)}{selector} > {limit}"
                    f" and {sli_record(sli, window.short)}{selector} > {limit}"
                )
                rules.append(
                    alert(
                        settings,
                        names.ERROR_BUDGET_BURN[sli],
                        expr,
                        for_=window.for_,
                        severity=window.severity,
                        labels={
                            "service": service.name,
                            "slo": sli,
                            "long_window": window.long,
                            "short_window": window.short,
                        },
                        summary=_SUMMARIES[sli],
                        description=fill(
                            _DESCRIPTIONS[sli],
                            long=window.long,
                            factor=number(window.factor),
                            objective=f"{objective:.2%}".replace(".00%", "%"),
                            threshold=number(slo.latency_threshold_seconds),
                        ),
                    )
                )
    return rules


def slo_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "gateway-slo.rules", "rules": slo_recording_rules(settings)},
        {"name": "gateway-slo.alerts", "rules": slo_alerts(settings)},
    ]


assert re.fullmatch(le_matcher(30).replace("\\\\", "\\"), "30.0")
