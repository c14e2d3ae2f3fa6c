"""How an alert rule is written: mixin conventions in one place.

CamelCase names, `severity` critical|warning|info, a static `summary` ending
in a period, a templated `description`, and `runbook_url` from the one
pattern in settings.
"""

from __future__ import annotations

from typing import Optional

from stack.settings.alerting import SEVERITIES
from gateway_telemetry.contract import KONG
from stack.settings import Duration, Settings
from stack.runbooks import runbook_url


def fill(template: str, **values) -> str:
    """Substitute {name} placeholders only, leaving Go templates ({{ ... }}) alone."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def number(value: float) -> str:
    """A threshold as PromQL and humans read it: 0.05, 2.5, 100 (no float noise)."""
    return f"{round(value, 9):g}"


def percent(ratio: float) -> str:
    """0.05 -> '5%', 0.025 -> '2.5%' (never rounded away)."""
    return f"{number(ratio * 100)}%"


def alert(
    settings: Settings,
    name: str,
    expr: str,
    *,
    severity: str,
    summary: str,
    description: str,
    for_: Optional[str] = None,
    labels: Optional[dict[str, str]] = None,
) -> dict:
    assert severity in SEVERITIES, severity
    assert summary.endswith("."), summary
    rule: dict = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **(labels or {})}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(settings, name),
    }
    return rule


def with_pending_periods(settings: Settings, groups: list[dict]) -> list[dict]:
    """`groups` (rule groups as written to a rule file) with the `for:` of every
    alert named in `alerting.forDurations` replaced: 0s removes it (the alert
    fires on the first evaluation that matches). Every rule of that name is
    changed (the SLO burn-rate alerts have one per window and service); nothing
    else is. Then every `{pending}` in a description becomes the alert's final
    pending period, so the text never promises a wait the rule does not have.
    The one place both happen, for Prometheus and Loki rules alike; `groups`
    is left as it was."""
    pending = settings.alerting.for_durations
    return [
        {**group, "rules": [_described(_with_for(rule, pending.get(rule.get("alert")))) for rule in group["rules"]]}
        for group in groups
    ]


def _with_for(rule: dict, duration: Optional[Duration]) -> dict:
    """`rule` with `for: duration` (none for 0s); `rule` itself when it is not overridden."""
    if duration is None:
        return rule
    changed: dict = {}
    for key, value in rule.items():
        if key != "for":
            changed[key] = value
        # Right after expr, where alert() writes it: the file's diff is that one line.
        if key == "expr" and duration.seconds:
            changed["for"] = duration.prometheus()
    return changed


def _described(rule: dict) -> dict:
    description = rule.get("annotations", {}).get("description", "")
    if "{pending}" not in description:
        return rule
    wait = rule.get("for", "one evaluation")
    return {**rule, "annotations": {**rule["annotations"], "description": description.replace("{pending}", wait)}}


def record(name: str, expr: str, labels: Optional[dict[str, str]] = None) -> dict:
    rule = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def sum_rate(metric: str, by: str, window: str = "5m", selector: str = "") -> str:
    return f"sum by ({by}) (rate({metric}{selector}[{window}]))"


def zero_when_absent(expr: str, like: str) -> str:
    """`expr`, or 0 for each series of `like` where `expr` has none: a
    counter that only appears once something went wrong (a 5xx code, a
    drop) reads 0 rather than no data."""
    return f"({expr} or {like} * 0)"


def share(part: str, rest: str) -> str:
    """part / (part + rest), either counted as 0 while it has no series (a
    cache that never missed, or never hit)."""
    part, rest = zero_when_absent(part, rest), zero_when_absent(rest, part)
    return f"{part} / ({part} + {rest})"


def ratio(bad: str, total: str) -> str:
    """bad / total that is 0, not absent, when nothing bad happened."""
    return f"{zero_when_absent(bad, total)} / {total}"


def with_traffic_floor(settings: Settings, expr: str, traffic: str, on: str) -> str:
    """`expr` only where `traffic` (events per second, matched `on` those
    labels) is at least alerting.thresholds.minRequestsPerSecond: a ratio of a
    handful of events is no evidence. Every ratio alert goes through here."""
    floor = number(settings.alerting.thresholds.min_requests_per_second)
    return f"{expr} and on ({on}) {traffic} >= {floor}"


def gateway_jobs(settings: Settings) -> str:
    return "|".join(s.name for s in settings.gateway_services)


def has_kong(settings: Settings) -> bool:
    return any(s.name == KONG.name for s in settings.gateway_services)
