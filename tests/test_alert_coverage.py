"""Issue 17, field report 6 (silent SLIs): if a series the gateway's alerts
read disappears, those alerts evaluate to nothing and nothing says so. Kind:
every series a gateway alert depends on has an absence alert.

The rules are read as rendered for the reference settings (Docker and
Kubernetes); a series is named by its family (a histogram's _bucket, _count
and _sum are one); recording rules are followed down to the series they read.
An absence alert covers the families inside its absent() or absent_over_time().
"""

from __future__ import annotations

import re

import pytest

from gateway_telemetry import contract
from stack.alerting import kubernetes_reference_settings, reference_settings, rule_groups

# Families no absence alert watches, and why their absence blinds nothing.
NOT_WATCHED = {
    "gateway_router_fallbacks_total": "born with the first fallback; the rules read it as 0 until then (zero_when_absent)",
    "gateway_llm_fallback_exhausted_total": "born with the first exhausted chain; absent means none failed",
    "kong_upstream_target_health": "Kong exports it only for upstreams with health checks; absent is the normal state of a Kong without them",
}
GATEWAY_FILES = ("gateway-alerts.yml", "gateway-slo.yml")
# Series name -> its family (the contract metric's name).
FAMILIES = {series: metric.name for metric in contract.all_metrics() for series in metric.series_names()}
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ABSENT = re.compile(r"absent(?:_over_time)?\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def read_families(expr: str, records: dict[str, str]) -> set[str]:
    """The contract families `expr` reads, through recording rules."""
    found = set()
    for token in set(_IDENTIFIER.findall(expr)):
        if token in records:
            found |= read_families(records[token], records)
        elif token in FAMILIES:
            found.add(FAMILIES[token])
    return found


@pytest.mark.parametrize("settings", [reference_settings(), kubernetes_reference_settings()], ids=["docker", "kubernetes"])
def test_every_series_a_gateway_alert_reads_has_an_absence_alert(settings):
    groups = rule_groups(settings)
    rules = [r for gs in groups.values() for g in gs for r in g["rules"]]
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    alerts = [r for name in GATEWAY_FILES for g in groups[name] for r in g["rules"] if "alert" in r]
    watched = {FAMILIES[m] for r in rules if "alert" in r for m in _ABSENT.findall(r["expr"])}
    needed = {f for r in alerts if "absent" not in r["expr"] for f in read_families(r["expr"], records)}

    unwatched = needed - watched - set(NOT_WATCHED)
    assert not unwatched, f"read by a gateway alert, watched by no absence alert: {sorted(unwatched)}"
    assert set(NOT_WATCHED) <= needed - watched, f"stale NOT_WATCHED entries: {sorted(set(NOT_WATCHED) - (needed - watched))}"
    # The families this was written against, so a parser that finds nothing cannot pass.
    assert {"http_server_request_duration_seconds", "kong_http_requests_total", "gen_ai_client_operation_duration_seconds", "up"} <= needed


def test_the_series_reader_follows_recording_rules_and_folds_histograms():
    records = {"service:x:p95_rate5m": "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"}
    assert read_families("service:x:p95_rate5m > 1 and on () up == 1", records) == {"http_server_request_duration_seconds", "up"}
