"""Multi-window, multi-burn-rate SLO alerts (Google SRE workbook, ch. 5),
generated per gateway service and SLI (stack/slis.py says which a service
has) from the objectives in settings.

Per service, SLI and window: the events per second and the share of them
that were bad (recording rules the alerts and the SLO board share); per SLO
window, the events and bad events counted over it (request-weighted, for the
board); per window pair, a burn-rate alert with a traffic floor; per SLI, an
alert for its series vanishing. Latency-kind thresholds must be histogram
buckets so the ratios are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stack import alert_names as names
from stack.alerting.rule import alert, fill, number, ratio, record, sum_rate, with_traffic_floor, zero_when_absent
from gateway_telemetry.contract import FAILED_REQUEST_MATCHER
from stack.settings import Settings
from stack.slis import AVAILABILITY, LATENCY, TIME_PER_OUTPUT_TOKEN, TIME_TO_FIRST_TOKEN, events, service_slis


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


def le_matcher(bucket: float) -> str:
    """Matches the bucket however the exporter prints it: 30, 30.0, 0030000.0."""
    text = number(bucket)
    if "." not in text:
        return f"0*{text}(\\\\.0+)?"
    whole, fraction = text.split(".")
    return f"0*{whole.lstrip('0')}\\\\.{fraction}0*"


# The SLO series keep the environment, so a board over a Prometheus that
# holds several (remote write, federation) shows the chosen one.
BY = "environment, service"


def _sum_rate(metric: str, service: str, window: str, matchers: str = "") -> str:
    return sum_rate(metric, BY, window, f'{{service="{service}"{matchers}}}')


def http_failure_ratio(matchers: str, window: str, by: str = "service") -> str:
    """Share of a kit service's requests that failed (contract.FAILED_REQUEST_MATCHER:
    5xx, exceptions, streams broken after their header), per `by`; 0, not
    absent, when none failed. `matchers` selects the series (without
    braces). The overview board reads it."""
    metric = "http_server_request_duration_seconds_count"
    total = sum_rate(metric, by, window, f"{{{matchers}}}")
    return ratio(sum_rate(metric, by, window, f"{{{matchers}, {FAILED_REQUEST_MATCHER}}}"), total)


def events_rate(service: str, sli: str, window: str) -> str:
    """Events per second the SLI counted over `window` (requests, streamed calls)."""
    return _sum_rate(events(service, sli).total, service, window)


def error_ratio(settings: Settings, service: str, sli: str, window: str) -> str:
    """Share of the SLI's events over `window` that were bad: failed, or
    slower than the SLI's threshold (a histogram bucket, so exact)."""
    counted = events(service, sli)
    total = events_rate(service, sli, window)
    if counted.failed:
        return ratio(_sum_rate(counted.total, service, window, f", {counted.failed}"), total)
    bucket = settings.slo_for(service).threshold_seconds(sli)
    fast = _sum_rate(f"{counted.histogram}_bucket", service, window, f', le=~"{le_matcher(bucket)}"')
    return f"1 - {fast} / {total}"


def bad_events_increase(settings: Settings, service: str, sli: str, window: str) -> str:
    """Bad events over `window` (a count): the SLO board's numerator; 0,
    not absent, while no failure has ever been counted."""
    counted = events(service, sli)
    if counted.failed:
        total = _sum_increase(counted.total, service, window)
        return zero_when_absent(_sum_increase(counted.total, service, window, f", {counted.failed}"), total)
    bucket = settings.slo_for(service).threshold_seconds(sli)
    fast = _sum_increase(f"{counted.histogram}_bucket", service, window, f', le=~"{le_matcher(bucket)}"')
    return f"{_sum_increase(counted.total, service, window)} - {fast}"


def _sum_increase(metric: str, service: str, window: str, matchers: str = "") -> str:
    return f'sum by ({BY}) (increase({metric}{{service="{service}"{matchers}}}[{window}]))'


def sli_record(sli: str, window: str) -> str:
    return f"service:slo_{sli}_errors:ratio_rate{window}"


def events_record(sli: str, window: str) -> str:
    return f"service:slo_{sli}_events:rate{window}"


def window_records(sli: str, window: str) -> tuple[str, str]:
    """(events, bad events) over the SLO window: what the SLO board divides."""
    return f"service:slo_{sli}_events:increase{window}", f"service:slo_{sli}_errors:increase{window}"


# The SLO window of the SRE workbook, shortened to what Prometheus keeps.
SLO_WINDOW_SECONDS = 30 * 86400


def slo_window(settings: Settings) -> str:
    """The window the SLO board reports over: 30 days, or the metrics retention when shorter."""
    days = min(SLO_WINDOW_SECONDS, settings.retention.metrics.seconds) // 86400
    return f"{days}d"


def _slis(settings: Settings) -> list[tuple[str, str]]:
    """(service, SLI) for every SLI of every gateway service, in settings order."""
    return [(service.name, sli) for service in settings.gateway_services for sli in service_slis(service.name)]


def slo_recording_rules(settings: Settings) -> list[dict]:
    rules = []
    for service, sli in _slis(settings):
        # The static service label also keeps promtool's duplicate-rule lint satisfied.
        labels = {"service": service}
        for window in WINDOWS:
            rules.append(record(events_record(sli, window), events_rate(service, sli, window), labels))
            rules.append(record(sli_record(sli, window), error_ratio(settings, service, sli, window), labels))
    return rules


def slo_window_rules(settings: Settings) -> list[dict]:
    """Events and bad events over the whole SLO window, request-weighted, for
    the SLO board: 30 days of counters read once a minute, not at every
    refresh of the board."""
    window = slo_window(settings)
    rules = []
    for service, sli in _slis(settings):
        total_name, bad_name = window_records(sli, window)
        labels = {"service": service}
        rules.append(record(total_name, _sum_increase(events(service, sli).total, service, window), labels))
        rules.append(record(bad_name, bad_events_increase(settings, service, sli, window), labels))
    return rules


_SUMMARIES = {
    AVAILABILITY: "A gateway service is burning its availability error budget too fast.",
    LATENCY: "A gateway service is burning its latency error budget too fast.",
    TIME_TO_FIRST_TOKEN: "Streamed answers start too slowly: the time-to-first-token error budget burns too fast.",
    TIME_PER_OUTPUT_TOKEN: "Streamed answers arrive too slowly: the time-per-output-token error budget burns too fast.",
}
_DESCRIPTIONS = {
    AVAILABILITY: (
        "{{ $labels.service }} failed {{ $value | humanizePercentage }} of requests over the last {long}: "
        "{factor}x the error budget of its {objective} availability objective."
    ),
    LATENCY: (
        "{{ $value | humanizePercentage }} of {{ $labels.service }} requests took longer than {threshold}s over the "
        "last {long}: {factor}x the budget of its {objective} latency objective."
    ),
    TIME_TO_FIRST_TOKEN: (
        "{{ $value | humanizePercentage }} of streamed LLM calls of {{ $labels.service }} waited longer than "
        "{threshold}s for their first token over the last {long}: {factor}x the budget of its {objective} objective."
    ),
    TIME_PER_OUTPUT_TOKEN: (
        "{{ $value | humanizePercentage }} of streamed LLM calls of {{ $labels.service }} took more than {threshold}s "
        "per output token over the last {long}: {factor}x the budget of its {objective} objective."
    ),
}


def burn_rate_alert(settings: Settings, service: str, sli: str, window: BurnRateWindow) -> dict:
    """One window pair's alert: both windows burn faster than the pair's
    factor, while the SLI's events over the pair's short window are at least
    the traffic floor (a handful of requests is no evidence of a burn). The
    short window: the one a few requests can swing, and the one that drops
    below the floor last, so a slow burn at night keeps its pending period."""
    slo = settings.slo_for(service)
    objective = slo.objective(sli)
    limit = number(window.factor * (1 - objective))
    selector = f'{{service="{service}"}}'
    expr = with_traffic_floor(
        settings,
        f"{sli_record(sli, window.long)}{selector} > {limit} and {sli_record(sli, window.short)}{selector} > {limit}",
        f"{events_record(sli, window.short)}{selector}",
        BY,
    )
    return alert(
        settings,
        names.ERROR_BUDGET_BURN[sli],
        expr,
        for_=window.for_,
        severity=window.severity,
        labels={"service": service, "slo": sli, "long_window": window.long, "short_window": window.short},
        summary=_SUMMARIES[sli],
        description=fill(
            _DESCRIPTIONS[sli],
            long=window.long,
            factor=number(window.factor),
            objective=f"{objective:.2%}".replace(".00%", "%"),
            threshold=number(slo.threshold_seconds(sli) or 0),
        ),
    )


def sli_series(settings: Settings, service: str, sli: str) -> str:
    """The series an SLI cannot do without: its events counter, or for a
    latency-kind SLI the bucket at its threshold (gone when the histogram is,
    and when its buckets no longer include the threshold)."""
    counted = events(service, sli)
    if counted.failed or not counted.histogram:
        return f'{counted.total}{{service="{service}"}}'
    bucket = settings.slo_for(service).threshold_seconds(sli)
    return f'{counted.histogram}_bucket{{service="{service}", le=~"{le_matcher(bucket)}"}}'


def sli_absent_alert(settings: Settings, service: str, sli: str) -> dict:
    """The SLI's series is gone while the service serves: every burn-rate
    alert of it evaluates to nothing. Serving means up (a kit service's own
    probes and requests make its HTTP series), or, for the streaming SLIs,
    making successful chat calls (embeddings never stream)."""
    if sli in (TIME_TO_FIRST_TOKEN, TIME_PER_OUTPUT_TOKEN):
        serving = (
            "sum by (service) (rate(gen_ai_client_operation_duration_seconds_count"
            f'{{service="{service}", gen_ai_operation_name="chat", error_type=""}}[15m])) > 0'
        )
    else:
        serving = f'max by (service) (up{{job="{service}"}}) == 1'
    series = sli_series(settings, service, sli)
    causes = ["a metric group turned off", "a renamed metric"]
    if "_bucket" in series:
        causes.append("changed buckets")
    if sli in (TIME_TO_FIRST_TOKEN, TIME_PER_OUTPUT_TOKEN):
        causes.append("a service that stopped streaming")
    return alert(
        settings,
        names.SLI_ABSENT,
        f"absent_over_time({series}[15m]) and on (service) ({serving})",
        for_="15m",
        severity="warning",
        labels={"service": service, "slo": sli},
        summary="A series an SLO reads is gone while its service serves: the SLO alerts are blind.",
        description=(
            f"{{{{ $labels.service }}}} serves, but Prometheus has had no {series.split('{')[0]}"
            + (" at the SLO's threshold" if "_bucket" in series else "")
            + f" for 15 minutes plus {{pending}}: its {sli} SLO and burn-rate alerts read nothing ("
            + ", ".join(causes)
            + ")."
        ),
    )


def slo_alerts(settings: Settings) -> list[dict]:
    rules = [burn_rate_alert(settings, service, sli, window) for service, sli in _slis(settings) for window in BURN_RATE_WINDOWS]
    return rules + [sli_absent_alert(settings, service, sli) for service, sli in _slis(settings)]


def slo_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "gateway-slo.rules", "rules": slo_recording_rules(settings)},
        # 30 days of counters need not be read at every evaluation; the board shows a minute-old figure.
        {"name": "gateway-slo-window.rules", "interval": "1m", "rules": slo_window_rules(settings)},
        {"name": "gateway-slo.alerts", "rules": slo_alerts(settings)},
    ]


assert re.fullmatch(le_matcher(30).replace("\\\\", "\\"), "30.0")
