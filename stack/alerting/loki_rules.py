"""LogQL alert rules the Loki ruler evaluates on the gateway's logs."""

from __future__ import annotations

from stack import alert_names as names
from stack.alerting.rule import alert, fill, number, with_pending_periods
from gateway_telemetry.redaction import LEAK_PATTERN
from stack.settings import Settings

ERROR_LEVELS = 'level=~"error|critical"'


def loki_alerts(settings: Settings) -> list[dict]:
    thresholds = settings.alerting.thresholds
    return [
        alert(
            settings,
            names.ERROR_LOG_RATE_HIGH,
            f'sum by (service) (rate({{service=~".+", {ERROR_LEVELS}}}[5m])) > {number(thresholds.error_logs_per_second)}',
            for_="10m",
            severity="warning",
            summary="A gateway service is logging errors at a high rate.",
            description=fill(
                "{{ $labels.service }} logs {{ $value | humanize }} errors/s (threshold {threshold}/s).",
                threshold=number(thresholds.error_logs_per_second),
            ),
        ),
        alert(
            settings,
            names.REPEATED_PROVIDER_ERRORS,
            f'sum by (service, provider) (count_over_time({{service=~".+", provider=~".+", {ERROR_LEVELS}}}[5m]))'
            f" > {thresholds.provider_error_logs_per_5m}",
            for_="5m",
            severity="warning",
            summary="The gateway keeps logging errors about one LLM provider.",
            description=fill(
                "{{ $labels.service }} logged {{ $value }} errors about provider {{ $labels.provider }} in 5 minutes "
                "(threshold {threshold}).",
                threshold=thresholds.provider_error_logs_per_5m,
            ),
        ),
        alert(
            settings,
            names.SECRET_LEAKED_TO_LOGS,
            # A raw-string regex (backticks): no LogQL escaping to get wrong.
            f'sum by (service) (count_over_time({{service=~".+"}} |~ `{LEAK_PATTERN}` [5m])) > 0',
            severity="critical",
            summary="Something that looks like an API key or bearer token reached Loki.",
            description=(
                "{{ $value }} log lines from {{ $labels.service }} in the last 5 minutes contain what looks like an "
                "API key, JWT or bearer token despite redaction: rotate the credential, then fix the redaction "
                "rules in telemetry/gateway_telemetry/redaction.py and delete the lines."
            ),
        ),
    ]


def loki_rule_groups(settings: Settings) -> list[dict]:
    """The Loki ruler's rule groups, with the pending periods of alerting.forDurations."""
    return with_pending_periods(settings, [{"name": "gateway-logs.alerts", "rules": loki_alerts(settings)}])
