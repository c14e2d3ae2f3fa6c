"""README tables generated from the code they describe, so they cannot drift:
`python -m stack tables` prints them and a test checks the README holds them."""

from __future__ import annotations

import re

from gateway_telemetry import contract
from stack.alerting import WATCHDOG, kubernetes_reference_settings, reference_settings, rule_groups
from stack.alerting.loki_rules import loki_rule_groups
from gateway_telemetry.redaction import REDACTIONS

_WHERE_IT_GOES = {
    "critical": "pages: `critical` receivers (PagerDuty and Slack)",
    "warning": "`warning` receivers (Slack)",
    "info": "`info` receivers (e-mail), business hours only",
}


def contract_table() -> str:
    lines = ["| service | metric | type | unit | labels |", "|---|---|---|---|---|"]
    for service in contract.GATEWAY_SERVICES:
        for metric in service.metrics:
            labels = ", ".join(f"`{label}`" for label in metric.labels) or "—"
            lines.append(f"| {service.name} | `{metric.name}` | {metric.type} | {metric.unit} | {labels} |")
    return "\n".join(lines)


def alerts_table() -> str:
    lines = ["| alert | severity | meaning | goes to |", "|---|---|---|---|"]
    seen = set()
    settings = reference_settings()
    # The cluster alerts exist on Kubernetes only: listed after the others.
    kubernetes_only = [groups for name, groups in rule_groups(kubernetes_reference_settings()).items() if name not in rule_groups(settings)]
    for groups in [*rule_groups(settings).values(), loki_rule_groups(settings), *kubernetes_only]:
        for group in groups:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                severity = rule["labels"]["severity"]
                key = (rule["alert"], severity)
                if key in seen:
                    continue
                seen.add(key)
                where = "`heartbeat` receiver (dead man's switch)" if rule["alert"] == WATCHDOG else _WHERE_IT_GOES[severity]
                lines.append(f"| `{rule['alert']}` | {severity} | {rule['annotations']['summary']} | {where} |")
    return "\n".join(lines)


def thresholds_table() -> str:
    from stack.settings import parse_settings

    environments = ("dev", "staging", "prod")
    thresholds = {env: parse_settings({"target": "docker"}, env, "docs").alerting.thresholds for env in environments}
    lines = ["| `alerting.thresholds.` key | dev | staging | prod (and any other stack) |", "|---|---|---|---|"]
    for name, field in type(thresholds["prod"]).model_fields.items():
        values = " | ".join(f"{getattr(thresholds[env], name):g}" for env in environments)
        lines.append(f"| `{field.alias}` | {values} |")
    return "\n".join(lines)


def log_fields_table() -> str:
    stored = {"label": "label", "metadata": "structured metadata", "line": "in the line (LogQL `json` parser)"}
    lines = ["| JSON field | meaning | stored as |", "|---|---|---|"]
    lines += [f"| `{f.name}` | {f.meaning} | {stored[f.stored_as]} |" for f in contract.LOG_FIELDS]
    return "\n".join(lines)


def _gate(rule) -> str:
    if isinstance(rule.trigger, tuple):
        return ", ".join(f"`{literal}`" for literal in rule.trigger)
    return "a card, phone, SSN, IBAN or NINO shape (one regex pass for all five)"


def redaction_table() -> str:
    """One row per kind of secret: its mask, what it takes, the gate that
    lets its rule run, and where its pattern came from (a secret scanner's
    catalogue at a pinned release, with file and line; "project" for the
    project's own rules)."""
    rows: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for rule in REDACTIONS:
        gates, sources = rows.setdefault((rule.replacement, rule.what), ([], []))
        if _gate(rule) not in gates:
            gates.append(_gate(rule))
        if rule.source and rule.source not in sources:
            sources.append(rule.source)
    lines = ["| replaced by | what | runs when the line contains | from |", "|---|---|---|---|"]
    lines += [
        f"| `{mask}` | {what} | {'; or '.join(gates)} | {'; '.join(sources) or 'project'} |"
        for (mask, what), (gates, sources) in rows.items()
    ]
    return "\n".join(lines)


def dashboard_tables() -> list[str]:
    """One table per board: each panel, what it shows (the first sentence of
    its description) and its unit, for the reference settings."""
    from dashboards import boards  # the SDK is only needed for this table

    tables, settings = [], reference_settings()
    services = settings.gateway_services
    for board in boards(settings):
        model = board.build()
        lines, seen = [f"| `{board.uid}` panel | shows | unit |", "|---|---|---|"], set()
        for panel in (p for top in model["panels"] for p in (top, *top.get("panels", [])) if p["type"] != "row"):
            shows = panel["description"].split(". ")[0].rstrip(".")
            # The SLO board repeats its panels per service: one row says it.
            title = re.sub(f"^({'|'.join(re.escape(s.name) for s in services)}) ", "<service> ", panel["title"])
            if title not in seen:
                seen.add(title)
                lines.append(f"| {title} | {shows} | {panel['fieldConfig']['defaults']['unit']} |")
        tables.append("\n".join(lines))
    return tables


def all_tables() -> list[str]:
    return [contract_table(), alerts_table(), thresholds_table(), log_fields_table(), redaction_table(), *dashboard_tables()]
