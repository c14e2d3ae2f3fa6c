"""Alerting settings: thresholds, SLO objectives, pending periods, runbook
links, receivers and routes. Defaults differ per environment (ALERTING_DEFAULTS); a stack's config
overrides them key by key."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, Field, model_validator

from stack.alert_names import ALERT_NAMES, WATCHDOG
from stack.settings.errors import config_key
from stack.settings.partial import Failed
from stack.settings.values import (
    DnsLabel,
    Duration,
    DurationField,
    HostPort,
    Number,
    StrictModel,
    Switch,
    WholeNumber,
    at_least,
    matching,
    repeated,
)

SEVERITIES = ("critical", "warning", "info")

Ratio = Annotated[Number, Field(gt=0, le=1)]
Seconds = Annotated[Number, Field(gt=0, le=3600)]


class Thresholds(StrictModel):
    """Alert thresholds; the README's tuning table is generated from these defaults."""

    # Every ratio alert (SLO burn rates included) needs at least this many
    # events per second (requests, LLM calls) over its window: below it, a
    # few failures are a large ratio and no evidence. 0.1/s is 6 a minute.
    min_requests_per_second: Annotated[Number, Field(ge=0)] = 0.1
    kong_server_error_ratio: Ratio = 0.05
    service_latency_p95_seconds: Seconds = 5.0
    provider_latency_p95_seconds: Seconds = 30.0
    time_to_first_token_p95_seconds: Seconds = 5.0
    # p95 time to first token this many times the same hour last week is a regression.
    time_to_first_token_regression_factor: Annotated[Number, Field(ge=1.1, le=100)] = 2.0
    provider_error_ratio: Ratio = 0.1
    # Share of a provider's calls refused with 429 (quota or rate limit).
    provider_rate_limited_ratio: Ratio = 0.05
    fallback_ratio: Ratio = 0.2
    # Share of LLM requests for which every provider of the chain failed.
    fallback_exhausted_ratio: Ratio = 0.01
    # The cache hit ratio below this share of what it was a day earlier has collapsed.
    cache_hit_collapse_factor: Ratio = 0.5
    # Token usage this many times the same hour last week is a spike...
    token_spike_factor: Annotated[Number, Field(ge=1.1, le=100)] = 3.0
    # ...once usage is above this floor (tokens/s), so quiet hours do not page.
    token_spike_min_rate: Annotated[Number, Field(ge=0)] = 50.0
    hourly_budget_usd: Annotated[Number, Field(gt=0)] = 100.0
    # Spend per day; the run-rate alert warns when the last hour's pace would pass it.
    daily_budget_usd: Annotated[Number, Field(gt=0)] = 1000.0
    # LogQL alerts on the gateway's logs.
    error_logs_per_second: Annotated[Number, Field(gt=0)] = 1.0
    provider_error_logs_per_5m: Annotated[WholeNumber, Field(ge=1)] = 20


def _objective(value: float) -> float:
    if not 0.9 <= value < 1:
        raise ValueError("expected an objective between 0.9 and 0.9999 (e.g. 0.995 for 99.5%)")
    return value


Objective = Annotated[Number, AfterValidator(_objective)]


class ServiceSlo(StrictModel):
    """One service's objectives, per SLI (stack/slis.py says which SLIs a
    service has); the burn-rate alerts are generated from them."""

    availability: Objective = 0.995
    # Share of requests that must be faster than latencyThresholdSeconds.
    latency: Objective = 0.99
    latency_threshold_seconds: Seconds = 30.0
    # Streamed LLM calls: share whose first token comes within the threshold...
    # (99%, not 95%: with a 5% budget even every call slow is a 20x burn,
    # which the 14.4x pair needs three quarters of an hour to see.)
    time_to_first_token: Objective = 0.99
    time_to_first_token_threshold_seconds: Seconds = 2.5
    # ...and share whose later tokens come at most the threshold apart on average.
    time_per_output_token: Objective = 0.99
    time_per_output_token_threshold_seconds: Seconds = 0.1

    def objective(self, sli: str) -> float:
        """The objective of an SLI (a name of stack.slis.SLI_NAMES), a ratio below 1."""
        return getattr(self, sli)

    def threshold_seconds(self, sli: str) -> Optional[float]:
        """The threshold of a latency-kind SLI in seconds; None for availability."""
        return getattr(self, f"{sli}_threshold_seconds", None)


def _check_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?", value):
        raise ValueError("expected an http(s) URL such as 'https://hooks.example.com/alerts'")
    return value


def _check_runbook_base_url(value: str) -> str:
    # The alert's name becomes the URL's last path segment (stack/runbooks.py
    # runbook_url): a query, a fragment or a placeholder would end up before it.
    if "{alertname}" in value:
        raise ValueError(
            "expected the URL the runbooks are under, without {alertname}: the stack appends '/<AlertName>' itself, "
            "e.g. 'https://wiki.example.com/ai-gateway/runbooks'"
        )
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#{}]*)?", value):
        raise ValueError(
            "expected the http(s) URL the runbooks are under, such as 'https://wiki.example.com/ai-gateway/runbooks' "
            "or 'https://github.com/<org>/<repo>/blob/main/docs/runbooks', without a query ('?'), a fragment ('#'), "
            "braces or spaces: the stack appends '/<AlertName>' to it"
        )
    return value


Email = Annotated[str, matching(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "expected an e-mail address such as 'sre@example.com'")]
Url = Annotated[str, AfterValidator(_check_url)]

# What Alertmanager's slack_configs.channel passes on to Slack: a channel
# '#name' or a user '@name' (Slack allows letters of any script, digits, '-',
# '_' and '.'), or a conversation id: C (channel), G (private channel),
# D (direct message), U/W (user), then upper-case letters and digits.
SlackChannel = Annotated[
    str,
    matching(
        r"[#@][\w.-]{1,80}|[CDGUW][A-Z0-9]{8,12}",
        "expected a Slack channel '#name', a user '@name' (letters, digits, '-', '_' and '.', "
        "at most 80), or a channel or user id such as 'C0123ABCD' or 'U012AB3CD'",
    ),
]


class SlackReceiver(StrictModel):
    channel: SlackChannel


class PagerDutyReceiver(StrictModel):
    pass


class EmailReceiver(StrictModel):
    to: Email
    from_: Annotated[Email, Field(alias="from")]
    smarthost: HostPort
    # With a username, the password is the receiver's secret.
    auth_username: Optional[str] = None
    require_tls: Switch = True


class WebhookReceiver(StrictModel):
    # The URL is not secret (Alertmanager 0.25, our checker, has no url_file);
    # a secret bearer token is sent when `bearerToken` is true.
    url: Url
    bearer_token: Switch = False


RECEIVER_KINDS = ("slack", "pagerduty", "email", "webhook")


class Receiver(StrictModel):
    """One Alertmanager receiver: a name and exactly one kind."""

    name: DnsLabel
    slack: Optional[SlackReceiver] = None
    pagerduty: Optional[PagerDutyReceiver] = None
    email: Optional[EmailReceiver] = None
    webhook: Optional[WebhookReceiver] = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Receiver":
        kinds = [k for k in RECEIVER_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"receiver '{self.name}' must have exactly one of slack, pagerduty, email, webhook "
                f"(has {', '.join(kinds) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in RECEIVER_KINDS if getattr(self, k) is not None)

    @property
    def needs_secret(self) -> bool:
        """Slack webhook URL, PagerDuty routing key, SMTP password or bearer token."""
        if self.email is not None:
            return self.email.auth_username is not None
        if self.webhook is not None:
            return self.webhook.bearer_token
        return True


class SeverityRoutes(StrictModel):
    """Receivers per severity; an empty list sends that severity nowhere."""

    critical: list[DnsLabel] = []
    warning: list[DnsLabel] = []
    info: list[DnsLabel] = []


class TeamRoute(SeverityRoutes):
    """Alerts labelled team=<team>, or about one of `services`, go to the
    team's receivers; a severity the team leaves empty uses the defaults."""

    team: DnsLabel
    services: list[DnsLabel] = []


# In the order Alertmanager reads a range of them: its week starts on Sunday.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _weekdays(value: str) -> str:
    # Alertmanager's time_intervals take a day or an inclusive range of days,
    # the week starting on Sunday: "start day cannot be before end day" for
    # monday:sunday (timeinterval.go, Alertmanager 0.25).
    days = value.split(":")
    if not all(day in WEEKDAYS for day in days) or len(days) > 2:
        raise ValueError("expected a weekday or a range of them such as 'monday:friday' (lower case, English)")
    if len(days) == 2 and WEEKDAYS.index(days[0]) > WEEKDAYS.index(days[1]):
        raise ValueError(
            f"the week starts on Sunday for Alertmanager, so {days[0]} comes after {days[1]}: "
            "write the range in that order, e.g. 'sunday:saturday' for every day"
        )
    return value


class BusinessHours(StrictModel):
    """When info alerts (tickets) are delivered."""

    location: Annotated[
        str,
        matching(
            r"UTC|Local|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+",
            "expected a time zone name such as 'UTC', 'Local' or 'Europe/Berlin'",
        ),
    ] = "UTC"
    weekdays: Annotated[str, AfterValidator(_weekdays)] = "monday:friday"
    start: Annotated[str, matching(r"([01][0-9]|2[0-3]):[0-5][0-9]", "expected a time of day from 00:00 to 23:59")] = "09:00"
    end: Annotated[str, matching(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00", "expected a time of day from 00:00 to 24:00")] = "17:00"

    @model_validator(mode="after")
    def _start_before_end(self) -> "BusinessHours":
        # Alertmanager refuses a time range that ends before it starts.
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class Routing(SeverityRoutes):
    """Receivers, and which of them each severity and team goes to."""

    receivers: list[Receiver] = []
    # Where the always-firing Watchdog goes (a dead man's switch service)...
    heartbeat: Optional[DnsLabel] = None
    # ...and how often it is sent there: shorter than the switch's own period.
    heartbeat_interval: Annotated[DurationField, at_least("10s", "1h")] = Duration.parse("5m")
    # How long Alertmanager gathers a new group's alerts before its first
    # notification: part of every alert's time to notify.
    group_wait: Annotated[DurationField, at_least("0s", "5m")] = Duration.parse("30s")
    teams: list[TeamRoute] = []
    business_hours: BusinessHours = BusinessHours()

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)


# The alerts whose pending period an operator may set: all but the Watchdog,
# a dead man's switch that must fire from the first evaluation on (a `for`
# would only delay the heartbeat the receiver waits for).
PENDING_ALERTS = tuple(name for name in ALERT_NAMES if name != WATCHDOG)


def _pending_alert(value: str) -> str:
    if value == WATCHDOG:
        raise ValueError(
            "the Watchdog takes no pending period: as a dead man's switch it must fire from the first evaluation on"
        )
    if value not in PENDING_ALERTS:
        close = difflib.get_close_matches(value, PENDING_ALERTS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"expected the name of an alert the stack generates{hint}: {', '.join(PENDING_ALERTS)}")
    return value


PendingAlert = Annotated[str, AfterValidator(_pending_alert)]
# At most an hour: an override makes an alert faster (tests, dev) or calmer,
# not silent; 0s fires on the first evaluation that matches (no `for`).
PendingPeriod = Annotated[DurationField, at_least("0s", "1h")]


class Alerting(StrictModel):
    # Where every alert's runbook_url points (stack/runbooks.py): unset, the
    # stack's own Grafana serves docs/runbooks as dashboards; set, the URL of
    # each runbook is '<base>/<AlertName>' ('.md' added for a base ending in
    # /docs/runbooks: this repository's folder on a git host).
    runbook_base_url: Optional[Annotated[str, AfterValidator(_check_runbook_base_url)]] = None
    thresholds: Thresholds = Thresholds()
    # Per gateway service; services not named here get ServiceSlo defaults.
    slos: dict[DnsLabel, ServiceSlo] = {}
    routing: Routing = Routing()
    # Alert name -> its `for:` in place of the generated one (every rule of
    # that name, Prometheus or Loki); alerts not named keep their own.
    for_durations: dict[PendingAlert, PendingPeriod] = {}


ROUTING = ("alerting", "routing")


def routing_problems(routing: Routing, failed: Failed) -> list[str]:
    """Receiver and team names unique, and every route naming a defined receiver.

    Runs on the valid part of the routing; a reference to a receiver that
    failed validation is not reported again (`failed` says which did)."""
    problems = []
    for key, names in (("receivers", [r.name for r in routing.receivers]), ("teams", [t.team for t in routing.teams])):
        if repeated(names):
            problems.append(f"{config_key((*ROUTING, key))}: names must be unique; repeated: {', '.join(repeated(names))}")
    if failed.whole(*ROUTING, "receivers"):
        return problems  # the receivers are unknown: nothing to check references against
    # A receiver that failed validation is still one the operator defined.
    defined = list(dict.fromkeys([*(r.name for r in routing.receivers), *sorted(failed.names(*ROUTING, "receivers"))]))
    references = [((s,), getattr(routing, s)) for s in SEVERITIES]
    references += [
        (("teams", failed.index_given((*ROUTING, "teams"), i), s), getattr(team, s))
        for i, team in enumerate(routing.teams)
        for s in SEVERITIES
    ]
    references += [(("heartbeat",), [routing.heartbeat] if routing.heartbeat else [])]
    for where, names in references:
        for name in names:
            if name not in defined:
                problems.append(
                    f"{config_key((*ROUTING, *where))}: names unknown receiver '{name}' (defined: {', '.join(defined) or 'none'})"
                )
    return problems


# Looser in dev and staging, where nobody should be paged for a laptop. Any
# key of `alerting` may have a per-environment default here, `forDurations`
# included ({"forDurations": {"GatewayServiceDown": "30s"}}); a stack's own
# forDurations then add to it alert by alert.
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
    """`override` over `base`, mapping by mapping; lists and values are replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
