"""docs/reference/alerts.md from the rule generators: every alert the stack
can raise, for the reference settings (prod's defaults, plus the Kubernetes
target's cluster alerts), with its severity, pending period (`for`), where
it is evaluated, what it means and who it goes to."""

from __future__ import annotations

from stack.alerting import WATCHDOG, kubernetes_reference_settings, reference_settings, rule_groups
from stack.alerting.loki_rules import loki_rule_groups
from stack.reference_pages.markdown import FOR_THE_REFERENCE_SETTINGS, page, table

WHERE_IT_GOES = {
    "critical": "pages: `critical` receivers (PagerDuty and Slack)",
    "warning": "`warning` receivers (Slack)",
    "info": "`info` receivers (e-mail), business hours only",
}


def _alert_rules() -> list[tuple[str, dict]]:
    """(where it is evaluated, rule) for every alerting rule, the Kubernetes-only ones last."""
    settings = reference_settings()
    prometheus = rule_groups(settings)
    kubernetes_only = {name: groups for name, groups in rule_groups(kubernetes_reference_settings()).items() if name not in prometheus}
    sources = [("Prometheus", groups) for groups in prometheus.values()]
    sources.append(("Loki ruler", loki_rule_groups(settings)))
    sources += [("Prometheus, Kubernetes only", groups) for groups in kubernetes_only.values()]
    return [(where, rule) for where, groups in sources for group in groups for rule in group["rules"] if "alert" in rule]


def alerts_table() -> str:
    rows, seen = [], set()
    for where, rule in _alert_rules():
        name, severity, pending = rule["alert"], rule["labels"]["severity"], rule.get("for", "0s")
        if (name, severity, pending) in seen:
            continue
        seen.add((name, severity, pending))
        goes_to = "`heartbeat` receiver (dead man's switch)" if name == WATCHDOG else WHERE_IT_GOES[severity]
        runbook = f"[`{name}`](../runbooks/{name}.md)"
        rows.append((runbook, severity, pending, where, rule["annotations"]["summary"], goes_to))
    return table(("alert", "severity", "for", "evaluated by", "meaning", "goes to"), rows)


def alerts_page() -> str:
    return page(
        "Alerts reference",
        "the rule generators (stack/reference_pages/alerts.py)",
        f"Every alert the stack can raise, {FOR_THE_REFERENCE_SETTINGS}. Each name opens its runbook. "
        "An SLO burn-rate alert is listed once per severity and window pair: the fast pairs page, the slow pairs "
        "open a ticket. `for` is the pending period as generated; `alerting.forDurations` overrides it per alert. "
        "How alerts are routed, inhibited and tuned: [Alerts and routing](../alerts-and-routing.md).",
        alerts_table(),
    )
