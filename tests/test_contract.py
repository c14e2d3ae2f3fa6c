"""The telemetry contract holds: every query names only metrics and labels the
gateway and the stack expose, and no label can explode in cardinality."""

from __future__ import annotations

import re

import promql_parser
import pytest

from gateway_telemetry import contract
from stack.alerting import reference_settings, rule_groups
from dashboard_queries import queries, substitute
from stack.settings import parse_settings

SETTINGS = {
    "prod": reference_settings(),
    "dev": parse_settings({"target": "docker"}, "dev", "test"),
}
FORBIDDEN_LABELS = {"user", "user_id", "api_key", "key", "request_id", "trace_id", "span_id", "session_id", "prompt", "email"}


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str]]]]:
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append((node.name, [(m.name, m.value) for m in node.matchers.matchers]))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def all_rules(settings):
    return [rule for groups in rule_groups(settings).values() for group in groups for rule in group["rules"]]


def dashboard_queries(settings) -> list[str]:
    return [substitute(q.expr) for q in queries(settings) if q.datasource == "prometheus"]


def contract_violations(expr: str, recorded: set[str]) -> list[str]:
    """Metrics outside the contract, and labels a contract metric does not have."""
    problems = []
    for name, matchers in selectors(expr):
        if name in recorded:
            continue
        if name not in contract.known_series_names():
            problems.append(f"{name!r} is not in stack/contract.py")
            continue
        problems += [f"{name} has no label {label!r}" for label, _ in matchers if label not in contract.labels_of(name)]
    return problems


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_every_rule_and_dashboard_query_names_only_contract_metrics(env):
    rules = all_rules(SETTINGS[env])
    # ALERTS: the series Prometheus writes for the alert rules' alerts.
    recorded = {r["record"] for r in rules if "record" in r} | {"ALERTS"}
    exprs = [r["expr"] for r in rules] + dashboard_queries(SETTINGS[env])
    assert {expr: contract_violations(expr, recorded) for expr in exprs if contract_violations(expr, recorded)} == {}
    used = {name for expr in exprs for name, _ in selectors(expr)}
    assert len(used) > 20, "too few selectors found: the parser walk is broken"


def test_the_check_catches_unknown_metrics_and_labels():
    assert contract_violations('sum(rate(gateway_made_up_total{service="x"}[5m]))', set()) == [
        "'gateway_made_up_total' is not in stack/contract.py"
    ]
    assert contract_violations('rate(gateway_router_fallbacks_total{user_id="42"}[5m])', set()) == [
        "gateway_router_fallbacks_total has no label 'user_id'"
    ]


def test_no_metric_has_an_unbounded_label():
    for metric in contract.all_metrics():
        assert not FORBIDDEN_LABELS & set(metric.labels), metric.name


def test_metric_names_follow_prometheus_conventions():
    for metric in contract.all_metrics():
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", metric.name)
        assert metric.type in {"counter", "gauge", "histogram"}
        # Kong's upstream name kong_bandwidth_bytes predates the _total rule; keep upstream names.
        if metric.type == "counter" and metric.name != "kong_bandwidth_bytes":
            assert metric.name.endswith("_total"), metric.name
        for label in metric.labels:
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", label), (metric.name, label)


def test_genai_metrics_use_the_opentelemetry_names():
    names = {m.name for s in contract.GATEWAY_SERVICES for m in s.metrics}
    assert {"gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage", "http_server_request_duration_seconds"} <= names
    api = contract.service_contract("unified-llm-api")
    duration = next(m for m in api.metrics if m.name == "gen_ai_client_operation_duration_seconds")
    assert {"gen_ai_provider_name", "gen_ai_request_model", "error_type"} <= set(duration.labels)


def test_every_contract_service_is_scraped_by_default():
    import yaml

    from stack.components.prometheus import render_prometheus_config

    jobs = {j["job_name"] for j in yaml.safe_load(render_prometheus_config(SETTINGS["prod"]))["scrape_configs"]}
    assert {s.name for s in contract.GATEWAY_SERVICES} <= jobs
    assert set(contract.STACK_METRICS) <= jobs


def test_recording_rules_are_named_level_metric_operations():
    for rule in all_rules(SETTINGS["prod"]):
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]*:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_alerts_follow_mixin_conventions():
    for rule in all_rules(SETTINGS["prod"]):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].endswith(".") and "{{" not in annotations["summary"], name
        assert "{{" in annotations["description"] or name.endswith("Down") or name == "Watchdog", name
        # The prod reference leaves alerting.runbookBaseUrl unset: Grafana (published on Docker) serves the runbooks.
        assert annotations["runbook_url"] == f"http://127.0.0.1:3000/d/{name}"


def test_thresholds_come_from_settings():
    tight = parse_settings(
        {"target": "docker", "alerting": {"thresholds": {"hourlyBudgetUsd": 12.5, "kongServerErrorRatio": 0.01}}},
        "prod",
        "test",
    )
    exprs = {r["alert"]: r["expr"] for r in all_rules(tight) if "alert" in r}
    assert exprs["GatewayLLMSpendOverBudget"].endswith("> 12.5")
    assert exprs["KongHighServerErrorRate"].startswith("kong_service:kong_http_requests_5xx:ratio_rate5m > 0.01 and ")


def test_dev_defaults_are_looser_than_production():
    dev, prod = SETTINGS["dev"].alerting.thresholds, SETTINGS["prod"].alerting.thresholds
    assert dev.hourly_budget_usd < prod.hourly_budget_usd
    assert dev.service_latency_p95_seconds > prod.service_latency_p95_seconds


def test_slo_objectives_and_thresholds_are_per_service():
    settings = parse_settings(
        {"target": "docker", "alerting": {"slos": {"intelligent-router": {"availability": 0.999}}}}, "prod", "test"
    )
    assert settings.slo_for("intelligent-router").availability == 0.999
    assert settings.slo_for("intelligent-router").latency_threshold_seconds == 1  # default kept
    burn = [r for r in all_rules(settings) if r.get("alert") == "GatewayAvailabilityErrorBudgetBurn" and r["labels"]["service"] == "intelligent-router"]
    assert burn[0]["expr"].startswith('service:slo_availability_errors:ratio_rate1h{service="intelligent-router"} > 0.0144 and ')  # 14.4 x 0.1%


@pytest.mark.parametrize(
    "service, key, buckets",
    [
        ("intelligent-router", "latencyThresholdSeconds", "0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120"),
        ("unified-llm-api", "timeToFirstTokenThresholdSeconds", "0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10"),
        ("unified-llm-api", "timePerOutputTokenThresholdSeconds", "0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5"),
    ],
)
def test_a_latency_kind_slo_threshold_must_be_a_histogram_bucket(service, key, buckets):
    from stack.settings import SettingsError

    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"slos": {service: {key: 3}}}}, "prod", "test")
    assert f"alerting.slos.{service}.{key}: given 3; must be one of the SLI's histogram buckets so it is exact: {buckets}" in str(caught.value)


def test_an_objective_for_an_sli_the_service_has_not_is_refused_with_the_keys_it_takes():
    from stack.settings import SettingsError

    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"slos": {"kong": {"latency": 0.99}, "unified-llm-api": {"latencyThresholdSeconds": 30}}}}, "prod", "test")
    message = str(caught.value)
    assert "alerting.slos.kong.latency: kong has no latency SLI (its SLIs: availability); the keys it takes: availability" in message
    assert (
        "alerting.slos.unified-llm-api.latencyThresholdSeconds: unified-llm-api has no latency SLI (its SLIs: availability, "
        "time_to_first_token, time_per_output_token); the keys it takes: availability, timeToFirstToken, "
        "timeToFirstTokenThresholdSeconds, timePerOutputToken, timePerOutputTokenThresholdSeconds"
    ) in message
