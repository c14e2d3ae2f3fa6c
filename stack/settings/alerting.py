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
    Accepts,
    DnsLabel,
    Duration,
    DurationField,
    HostPort,
    Number,
    StrictModel,
    Switch,
    WholeNumber,
    accepts,
    at_least,
    matching,
    repeated,
)

SEVERITIES = ("critical", "warning", "info")

Ratio = Annotated[Number, Field(gt=0, le=1)]
Seconds = Annotated[Number, Field(gt=0, le=3600)]
# Checked against the service's histogram in stack/settings/model.py (_slo_problems).
SloThreshold = Annotated[
    Seconds,
    Accepts("a number of seconds that is one of the bounds of the SLI's histogram (telemetry contract: histogram buckets)"),
]


class Thresholds(StrictModel):
    """Alert thresholds; per-environment defaults in ALERTING_DEFAULTS, printed
    by the settings reference (docs/reference/settings.md)."""

    min_requests_per_second: Annotated[Number, Field(ge=0)] = 0.1
    """Traffic floor of every ratio alert, SLO burn rates included: below this
    many events per second (requests, LLM calls) over its window, a few
    failures are a large ratio and no evidence, so it does not fire (0.1/s is
    6 a minute). Also the traffic `GatewayRouterStalled` needs to fire."""
    kong_server_error_ratio: Ratio = 0.05
    """Share of a Kong service's requests answered with a 5xx over 5 minutes
    above which `KongHighServerErrorRate` warns."""
    service_latency_p95_seconds: Seconds = 5.0
    """p95 request latency above which `GatewayServiceHighLatency` warns; only
    services with short requests (those with a latency SLI, so not Kong or the
    Unified LLM API)."""
    provider_latency_p95_seconds: Seconds = 30.0
    """p95 duration of calls to an LLM provider above which
    `GatewayProviderHighLatency` warns."""
    time_to_first_token_p95_seconds: Seconds = 5.0
    """p95 time to first token of streamed LLM calls, per provider and model,
    above which `GatewayTimeToFirstTokenHigh` warns."""
    time_to_first_token_regression_factor: Annotated[Number, Field(ge=1.1, le=100)] = 2.0
    """p95 time to first token this many times the same hour last week is a
    regression (`GatewayTimeToFirstTokenRegression`)."""
    provider_error_ratio: Ratio = 0.1
    """Share of calls to a provider and model failing over 5 minutes (callers'
    own bad requests not counted) above which `GatewayProviderHighErrorRate` warns."""
    provider_rate_limited_ratio: Ratio = 0.05
    """Share of a provider's calls refused with 429 (quota or rate limit) over
    5 minutes above which `GatewayProviderRateLimited` warns."""
    fallback_ratio: Ratio = 0.2
    """Share of routing decisions that fell back to another provider over 5
    minutes above which `GatewayRouterFallbackStorm` warns."""
    fallback_exhausted_ratio: Ratio = 0.01
    """Share of LLM requests for which every provider of the fallback chain
    failed above which `GatewayFallbackChainsFailing` warns."""
    cache_hit_collapse_factor: Ratio = 0.5
    """The optimization cache's hit ratio below this share of what it was a
    day earlier has collapsed (`GatewayCacheHitRatioCollapse`)."""
    token_spike_factor: Annotated[Number, Field(ge=1.1, le=100)] = 3.0
    """A service's token usage this many times the same hour last week is a
    spike (`GatewayTokenUsageSpike`), once above `tokenSpikeMinRate`."""
    token_spike_min_rate: Annotated[Number, Field(ge=0)] = 50.0
    """Token usage (tokens per second) below which no spike is reported, so
    quiet hours do not alert."""
    hourly_budget_usd: Annotated[Number, Field(gt=0)] = 100.0
    """A service's LLM spend over the last hour, in USD, above which
    `GatewayLLMSpendOverBudget` warns."""
    daily_budget_usd: Annotated[Number, Field(gt=0)] = 1000.0
    """LLM spend per day, in USD: `GatewayLLMSpendProjectedOverBudget` warns
    when the last hour's pace would pass it."""
    error_logs_per_second: Annotated[Number, Field(gt=0)] = 1.0
    """A service's error and critical log lines per second (over 5 minutes)
    above which the LogQL alert `GatewayErrorLogRateHigh` warns."""
    provider_error_logs_per_5m: Annotated[WholeNumber, Field(ge=1)] = 20
    """Error log lines about one LLM provider in 5 minutes above which the
    LogQL alert `GatewayRepeatedProviderErrors` warns."""


_OBJECTIVE_WORDS = "an objective of at least 0.9 and below 1 (0.995 is 99.5%)"


@accepts(_OBJECTIVE_WORDS)
def _objective(value: float) -> float:
    if not 0.9 <= value < 1:
        raise ValueError(f"expected {_OBJECTIVE_WORDS}")
    return value


Objective = Annotated[Number, AfterValidator(_objective)]


class ServiceSlo(StrictModel):
    """One service's objectives, per SLI (stack/slis.py says which SLIs a
    service has); the burn-rate alerts are generated from them."""

    availability: Objective = 0.995
    """Share of the service's requests that must not fail (for Kong: not a
    5xx), the objective of `GatewayAvailabilityErrorBudgetBurn`. Every service
    has this SLI."""
    latency: Objective = 0.99
    """Share of requests that must be answered within `latencyThresholdSeconds`
    (`GatewayLatencyErrorBudgetBurn`). Only services with short requests have
    this SLI: not Kong or the Unified LLM API, where setting it is refused."""
    latency_threshold_seconds: SloThreshold = 30.0
    """The latency SLI's threshold; must be one of the service's request
    duration histogram buckets, so the ratio is exact."""
    # 99%, not 95%: with a 5% budget even every call slow is a 20x burn,
    # which the 14.4x pair needs three quarters of an hour to see.
    time_to_first_token: Objective = 0.99
    """Share of streamed LLM calls whose first token must come within
    `timeToFirstTokenThresholdSeconds` (`GatewayTimeToFirstTokenErrorBudgetBurn`).
    Only services exporting the streaming metrics (the Unified LLM API) have this SLI."""
    time_to_first_token_threshold_seconds: SloThreshold = 2.5
    """The time-to-first-token SLI's threshold; must be one of that histogram's
    buckets, so the ratio is exact."""
    time_per_output_token: Objective = 0.99
    """Share of successful streamed LLM calls whose tokens after the first must
    come at most `timePerOutputTokenThresholdSeconds` apart on average
    (`GatewayTimePerOutputTokenErrorBudgetBurn`); same services as `timeToFirstToken`."""
    time_per_output_token_threshold_seconds: SloThreshold = 0.1
    """The time-per-output-token SLI's threshold; must be one of that
    histogram's buckets, so the ratio is exact."""

    def objective(self, sli: str) -> float:
        """The objective of an SLI (a name of stack.slis.SLI_NAMES), a ratio below 1."""
        return getattr(self, sli)

    def threshold_seconds(self, sli: str) -> Optional[float]:
        """The threshold of a latency-kind SLI in seconds; None for availability."""
        return getattr(self, f"{sli}_threshold_seconds", None)


@accepts("an http(s) URL")
def _check_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?", value):
        raise ValueError("expected an http(s) URL such as 'https://hooks.example.com/alerts'")
    return value


@accepts("an http(s) URL without query, fragment or {alertname}")
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
    """A Slack receiver; its incoming-webhook URL is the secret
    `receiverSecrets.<receiver>`."""

    channel: SlackChannel
    """Channel or user the notifications are posted to (Alertmanager's `channel`)."""


class PagerDutyReceiver(StrictModel):
    """A PagerDuty receiver (`pagerduty: {}`): no keys of its own; its Events v2
    routing key is the secret `receiverSecrets.<receiver>`."""


class EmailReceiver(StrictModel):
    """An e-mail receiver, sent through an SMTP server."""

    to: Email
    """Address the notifications are sent to."""
    from_: Annotated[Email, Field(alias="from")]
    """Sender address of the notifications."""
    smarthost: HostPort
    """The SMTP server Alertmanager sends through."""
    auth_username: Optional[str] = None
    """SMTP user to log in as; with it, the password is the secret
    `receiverSecrets.<receiver>`. Unset, Alertmanager does not authenticate."""
    require_tls: Switch = True
    """Alertmanager's `require_tls`: the SMTP server must offer STARTTLS."""


class WebhookReceiver(StrictModel):
    """A webhook receiver: Alertmanager POSTs its JSON to `url`."""

    # Not a secret: Alertmanager 0.25, our checker, has no url_file.
    url: Url
    """Where notifications are POSTed; written in the clear in Alertmanager's
    config, so it must not carry a credential."""
    bearer_token: Switch = False
    """Sends the secret `receiverSecrets.<receiver>` as a bearer token."""


RECEIVER_KINDS = ("slack", "pagerduty", "email", "webhook")


class Receiver(StrictModel):
    """One Alertmanager receiver: a name and exactly one kind."""

    name: DnsLabel
    """The name routes (`critical`, `warning`, `info`, `heartbeat`, `teams`)
    refer to; its credential, when it needs one, is the secret
    `receiverSecrets.<name>`."""
    slack: Optional[SlackReceiver] = None
    """A Slack receiver (needs its webhook URL as secret)."""
    pagerduty: Optional[PagerDutyReceiver] = None
    """A PagerDuty receiver (needs its routing key as secret)."""
    email: Optional[EmailReceiver] = None
    """An e-mail receiver (needs the SMTP password as secret with `authUsername`)."""
    webhook: Optional[WebhookReceiver] = None
    """A webhook receiver (needs its bearer token as secret with `bearerToken`)."""

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
    """Receivers of `critical` alerts (pages; typically PagerDuty and Slack).
    Under `alerting.routing`, empty sends them nowhere (`prod` warns); in a
    `teams` entry, empty uses `alerting.routing.critical`."""
    warning: list[DnsLabel] = []
    """Receivers of `warning` alerts (typically Slack). Under
    `alerting.routing`, empty sends them nowhere, and the first (else
    `critical`'s first) also gets alerts of no known severity; in a `teams`
    entry, empty uses `alerting.routing.warning`."""
    info: list[DnsLabel] = []
    """Receivers of `info` alerts (tickets, typically e-mail), delivered only
    within `businessHours`. Under `alerting.routing`, empty sends them nowhere;
    in a `teams` entry, empty uses `alerting.routing.info`."""


class TeamRoute(SeverityRoutes):
    """Alerts labelled team=<team>, or about one of `services`, go to the
    team's receivers; a severity the team leaves empty uses the defaults."""

    team: DnsLabel
    """Alerts labelled `team=<team>` go to this team's receivers."""
    services: list[DnsLabel] = []
    """Gateway services (`gatewayServices` names) whose alerts go to this
    team's receivers too, by their `service` label."""


# In the order Alertmanager reads a range of them: its week starts on Sunday.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@accepts("a weekday or a range of them such as 'monday:friday' (lower case, English; the week starts on sunday)")
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
    """Time zone `weekdays`, `start` and `end` are read in (Alertmanager's `location`)."""
    weekdays: Annotated[str, AfterValidator(_weekdays)] = "monday:friday"
    """Days `info` alerts are delivered on."""
    start: Annotated[str, matching(r"([01][0-9]|2[0-3]):[0-5][0-9]", "expected a time of day from 00:00 to 23:59")] = "09:00"
    """Time of day delivery of `info` alerts starts; before `end`."""
    end: Annotated[str, matching(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00", "expected a time of day from 00:00 to 24:00")] = "17:00"
    """Time of day delivery of `info` alerts stops; after `start`."""

    @model_validator(mode="after")
    def _start_before_end(self) -> "BusinessHours":
        # Alertmanager refuses a time range that ends before it starts.
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class Routing(SeverityRoutes):
    """Receivers, and which of them each severity and team goes to."""

    receivers: list[Receiver] = []
    """Alertmanager's receivers, each a `name` and exactly one of `slack`,
    `pagerduty`, `email` or `webhook`; the routes name them. Most need a
    credential, the secret `receiverSecrets.<name>`."""
    heartbeat: Optional[DnsLabel] = None
    """Receiver of the always-firing `Watchdog`, typically a webhook of a dead
    man's switch service, which alerts when the heartbeat stops; it gets no
    resolved notifications. Unset, the Watchdog goes nowhere (`prod` warns)."""
    heartbeat_interval: Annotated[DurationField, at_least("10s", "1h")] = Duration.parse("5m")
    """How often the Watchdog is sent to `heartbeat`; shorter than the dead
    man's switch's own period."""
    group_wait: Annotated[DurationField, at_least("0s", "5m")] = Duration.parse("30s")
    """How long Alertmanager gathers a new group's alerts before its first
    notification (`group_wait`): part of every alert's time to notify."""
    teams: list[TeamRoute] = []
    """Routes per team, checked before the severity routes: alerts labelled
    `team=<team>` or about one of its `services` go to the team's receivers;
    a severity the team leaves empty uses `alerting.routing`'s."""
    business_hours: BusinessHours = BusinessHours()
    """When `info` alerts (tickets) are delivered."""

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)


# The alerts whose pending period an operator may set: all but the Watchdog,
# a dead man's switch that must fire from the first evaluation on (a `for`
# would only delay the heartbeat the receiver waits for).
PENDING_ALERTS = tuple(name for name in ALERT_NAMES if name != WATCHDOG)


@accepts("the name of an alert the stack generates, but Watchdog")
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
    """What the generated alerts fire on, and where their notifications go.
    Defaults differ per environment (ALERTING_DEFAULTS); a stack's config
    overrides them key by key."""

    runbook_base_url: Optional[Annotated[str, AfterValidator(_check_runbook_base_url)]] = None
    """Where every alert's `runbook_url` points: `<base>/<AlertName>`, plus
    `.md` when the base ends in `/docs/runbooks` (this repository's folder on a
    git host). Unset, the stack's Grafana serves the runbooks as dashboards."""
    thresholds: Thresholds = Thresholds()
    """Alert thresholds; `dev` and `staging` default to looser ones."""
    slos: dict[DnsLabel, ServiceSlo] = {}
    """Per gateway service (a `gatewayServices` name), the SLO objectives its
    burn-rate alerts are generated from. Keys given override that service's
    defaults one by one; services not named keep theirs."""
    routing: Routing = Routing()
    """Alertmanager's receivers, and which of them each severity and team goes to."""
    for_durations: dict[PendingAlert, PendingPeriod] = {}
    """The pending period (`for:`) of a generated Prometheus or Loki alert, in
    place of its own: every rule of that name takes it (all four windows of an
    SLO burn-rate alert), and descriptions stating the wait state the new one.
    `0s` fires on the first evaluation that matches."""


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
