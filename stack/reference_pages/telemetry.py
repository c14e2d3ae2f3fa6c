"""docs/reference/telemetry-contract.md and redaction-rules.md from the
telemetry kit's core (telemetry/gateway_telemetry/contract.py and
redaction.py): what the gateway must expose and log, and what never reaches Loki."""

from __future__ import annotations

from gateway_telemetry import contract
from gateway_telemetry.redaction import REDACTIONS
from stack.reference_pages.markdown import page, table

_STORED_AS = {"label": "label", "metadata": "structured metadata", "line": "in the line (LogQL `json` parser)"}


def metrics_table() -> str:
    rows = [
        (service.name, f"`{metric.name}`", metric.type, metric.unit, ", ".join(f"`{label}`" for label in metric.labels) or "—")
        for service in contract.GATEWAY_SERVICES
        for metric in service.metrics
    ]
    return table(("service", "metric", "type", "unit", "labels"), rows)


def _bounds(buckets) -> str:
    return ", ".join(f"{bound:g}" for bound in buckets)


def buckets_table() -> str:
    rows = [
        (f"`{m.name}` (Kong's defaults)", f"{_bounds(contract.KONG_LATENCY_BUCKETS_MS)} ms")
        for m in contract.KONG.metrics
        if m.type == "histogram" and m.unit == "ms"
    ]
    units = {m.name: m.unit for service in contract.GATEWAY_SERVICES for m in service.metrics}
    rows += [(f"`{name}`", f"{_bounds(buckets)} {units[name]}") for name, buckets in contract.KIT_HISTOGRAM_BUCKETS.items()]
    return table(("histogram", "bucket upper bounds"), rows)


def log_fields_table() -> str:
    return table(("JSON field", "meaning", "stored as"), [(f"`{f.name}`", f.meaning, _STORED_AS[f.stored_as]) for f in contract.LOG_FIELDS])


def contract_page() -> str:
    return page(
        "Telemetry contract reference",
        "telemetry/gateway_telemetry/contract.py (stack/reference_pages/telemetry.py)",
        "What the gateway must expose and log for the stack's rules and boards to work. Every query of every rule "
        "and board is checked against it in the tests. Why it is shaped this way, and how a service meets it: "
        "[Logs, traces and redaction](../logs-traces-and-redaction.md) and [the telemetry kit](../telemetry-kit.md).",
        "## Metrics",
        "Every series also carries `job`, `instance`, `service`, `environment` and `cluster` from the scrape; "
        "Kong's own `service` label is therefore stored as `exported_service`.",
        metrics_table(),
        "## Histogram buckets",
        "Part of the contract: a latency SLO's threshold must be one of its histogram's bounds.",
        buckets_table(),
        "## Log fields",
        "One JSON object per line on stdout. Labels are few (index cardinality); ids are structured metadata, "
        "filterable with `| trace_id=\"...\"`.",
        log_fields_table(),
    )


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
    return table(
        ("replaced by", "what", "runs when the line contains", "from"),
        [(f"`{mask}`", what, "; or ".join(gates), "; ".join(sources) or "project") for (mask, what), (gates, sources) in rows.items()],
    )


def redaction_page() -> str:
    return page(
        "Redaction rules reference",
        "telemetry/gateway_telemetry/redaction.py (stack/reference_pages/telemetry.py)",
        "What Promtail masks in every line before it is parsed or shipped, and the kit before a line is written, "
        "in this order (RE2 patterns). What the rules guarantee and why the gates make them cheap: "
        "[Logs, traces and redaction](../logs-traces-and-redaction.md#redaction).",
        redaction_table(),
    )
