"""Alerting settings: thresholds, SLO objectives, runbook links, receivers and
routes. Defaults differ per environment (ALERTING_DEFAULTS); a stack's config
overrides them key by key."""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, Field, model_validator

from stack.settings_types import DNS_LABEL, StrictModel, check_host_port, repeated

SEVERITIES = ("critical", "warning", "info")

Ratio = Annotated[float, Field(gt=0, le=1)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class Thresholds(StrictModel):
    kong_server_error_ratio: Ratio = 0.05
    service_latency_p95_seconds: Seconds = 5.0
    provider_latency_p95_seconds: Seconds = 30.0
    time_to_first_token_p95_seconds: Seconds = 5.0
    provider_error_ratio: Ratio = 0.1
    fallback_ratio: Ratio = 0.2
    # Token usage this many times the same hour last week is a spike...
    token_spike_factor: Annotated[float, Field(ge=1.1, le=100)] = 3.0
    # ...once usage is above this floor (tokens/s), so quiet hours do not page.
    token_spike_min_rate: Annotated[float, Field(ge=0)] = 50.0
    hourly_budget_usd: Annotated[float, Field(gt=0)] = 100.0
    # LogQL alerts on the gateway's logs.
    error_logs_per_second: Annotated[float, Field(gt=0)] = 1.0
    provider_error_logs_per_5m: Annotated[int, Field(ge=1)] = 20


def _objective(value: float) -> float:
    if not 0.9 <= value < 1:
        raise ValueError("expected an objective between 0.9 and 0.9999 (e.g. 0.995 for 99.5%)")
    return value


Objective = Annotated[float, AfterValidator(_objective)]


class ServiceSlo(StrictModel):
    availability: Objective = 0.995
    # Share of requests that must be faster than latencyThresholdSeconds.
    latency: Objective = 0.99
    latency_threshold_seconds: Seconds = 30.0


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?$", value):
        raise ValueError("expected an http(s) URL such as 'https://hooks.example.com/alerts'")
    return value


def _check_runbook_url(value: str) -> str:
    _check_url(value.replace("{alertname}", "x"))
    if "{alertname}" not in value:
        raise ValueError("expected a URL pattern containing {alertname}")
    return value


def _check_email(value: str) -> str:
    if not re.match(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$", value):
        raise ValueError("expected an e-mail address such as 'sre@example.com'")
    return value


Email = Annotated[str, AfterValidator(_check_email)]
Url = Annotated[str, AfterValidator(_check_url)]


class SlackReceiver(StrictModel):
    channel: Annotated[str, Field(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")]


class PagerDutyReceiver(StrictModel):
    pass


class EmailReceiver(StrictModel):
    to: Email
    from_: Annotated[Email, Field(alias="from")]
    smarthost: Annotated[str, AfterValidator(check_host_port)]
    # With a username, the password is the receiver's secret.
    auth_username: Optional[str] = None
    require_tls: bool = True


class WebhookReceiver(StrictModel):
    # The URL is not secret (Alertmanager 0.25, our checker, has no url_file);
    # a secret bearer token is sent when `bearerToken` is true.
    url: Url
    bearer_token: bool = False


class Receiver(StrictModel):
    name: Annotated[str, Field(pattern=DNS_LABEL)]
    slack: Optional[SlackReceiver] = None
    pagerduty: Optional[PagerDutyReceiver] = None
    email: Optional[EmailReceiver] = None
    webhook: Optional[WebhookReceiver] = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Receiver":
        kinds = [k for k in ("slack", "pagerduty", "email", "webhook") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"receiver '{self.name}' must have exactly one of slack, pagerduty, email, webhook (has {kinds or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("slack", "pagerduty", "email", "webhook") if getattr(self, k) is not None)

    @property
    def needs_secret(self) -> bool:
        """Slack webhook URL, PagerDuty routing key, SMTP password or bearer token."""
        if self.email is not None:
            return self.email.auth_username is not None
        if self.webhook is not None:
            return self.webhook.bearer_token
        return True


ReceiverNames = list[Annotated[str, Field(pattern=DNS_LABEL)]]


class SeverityRoutes(StrictModel):
    """Receivers per severity; an empty list sends that severity nowhere."""

    critical: ReceiverNames = []
    warning: ReceiverNames = []
    info: ReceiverNames = []


class TeamRoute(SeverityRoutes):
    """Alerts labelled team=<team>, or about one of `services`, go to the
    team's receivers; a severity the team leaves empty uses the defaults."""

    team: Annotated[str, Field(pattern=DNS_LABEL)]
    services: list[Annotated[str, Field(pattern=DNS_LABEL)]] = []


class BusinessHours(StrictModel):
    """When info alerts (tickets) are delivered."""

    location: Annotated[str, Field(pattern=r"^(UTC|Local|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$")] = "UTC"
    weekdays: Annotated[str, Field(pattern=r"^[a-z]+(:[a-z]+)?$")] = "monday:friday"
    start: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "09:00"
    end: Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")] = "17:00"


class Routing(SeverityRoutes):
    receivers: list[Receiver] = []
    # Where the always-firing Watchdog goes (a dead man's switch service).
    heartbeat: Optional[Annotated[str, Field(pattern=DNS_LABEL)]] = None
    teams: list[TeamRoute] = []
    business_hours: BusinessHours = BusinessHours()

    @model_validator(mode="after")
    def _routes_name_defined_receivers(self) -> "Routing":
        defined = [r.name for r in self.receivers]
        problems = []
        for what, names in (("receiver names", defined), ("team routes", [t.team for t in self.teams])):
            if repeated(names):
                problems.append(f"{what} must be unique; repeated: {', '.join(repeated(names))}")
        references = [(s, getattr(self, s)) for s in SEVERITIES]
        references += [(f"teams[{i}].{s}", getattr(t, s)) for i, t in enumerate(self.teams) for s in SEVERITIES]
        references += [("heartbeat", [self.heartbeat] if self.heartbeat else [])]
        for where, names in references:
            for name in names:
                if name not in defined:
                    problems.append(f"{where} names unknown receiver '{name}' (defined: {', '.join(defined) or 'none'})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)


class Alerting(StrictModel):
    runbook_url: Annotated[str, AfterValidator(_check_runbook_url)] = (
        "https://runbooks.example.com/ai-gateway/{alertname}"
    )
    thresholds: Thresholds = Thresholds()
    # Per gateway service; services not named here get ServiceSlo defaults.
    slos: dict[Annotated[str, Field(pattern=DNS_LABEL)], ServiceSlo] = {}
    routing: Routing = Routing()


# Looser in dev and staging, where nobody should be paged for a laptop.
ALERTING_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "thresholds": {"serviceLatencyP95Seconds": 10.0, "hourlyBudgetUsd": 5.0, "kongServerErrorRatio": 0.2},
    },
    "staging": {
        "thresholds": {"serviceLatencyP95Seconds": 8.0, "hourlyBudgetUsd": 20.0, "kongServerErrorRatio": 0.1},
    },
}


def alerting_defaults(environment: str) -> dict[str, Any]:
    """Per-environment defaults; any other environment gets the production ones."""
    return ALERTING_DEFAULTS.get(environment, {})


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
