"""Rules judged by promtool: they load, their unit tests pass, every alert
has unit tests that prove it both fires and stays silent, and per-alert
pending periods (alerting.forDurations) load and take effect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, require_tool

from stack.alerting import REFERENCE_DIR, reference_rule_files, rule_files
from stack.settings import parse_settings

TESTS_DIR = ROOT / "alerts" / "tests"
UNIT_TESTS = sorted(TESTS_DIR.glob("*.test.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *args], capture_output=True, text=True, timeout=300)


def test_committed_reference_rules_match_the_generator():
    expected = reference_rule_files()
    committed = {p.name: p.read_text() for p in REFERENCE_DIR.glob("*.yml")}
    assert committed == expected, "alerts/prometheus is stale: run `make rules` and commit the diff"


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_promtool_accepts_the_rules_of_every_environment(tmp_path, env, target):
    settings = parse_settings({"target": target}, env, "test")
    paths = []
    for name, text in rule_files(settings).items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = promtool("check", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_exist():
    assert UNIT_TESTS, "no promtool unit tests in alerts/tests"


@pytest.mark.parametrize("test_file", UNIT_TESTS, ids=[p.name for p in UNIT_TESTS])
def test_promtool_unit_tests_pass(test_file: Path):
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout


def _alert_cases() -> tuple[set[str], set[str]]:
    """Alert names with a firing case, and with a case expecting silence."""
    firing, silent = set(), set()
    for path in UNIT_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    return firing, silent


def test_every_alert_has_unit_tests_that_fire_and_stay_silent():
    alerts = {
        rule["alert"]
        for text in reference_rule_files().values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    firing, silent = _alert_cases()
    assert not alerts - firing, f"alerts without a firing unit test: {sorted(alerts - firing)}"
    # Watchdog fires always, by design: it has no silent case to test.
    assert not alerts - silent - {"Watchdog"}, f"alerts without a silent unit test: {sorted(alerts - silent)}"
    assert not (firing | silent) - alerts, f"unit tests for alerts that do not exist: {sorted((firing | silent) - alerts)}"


def test_firing_cases_assert_the_full_annotation_set():
    for path in UNIT_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                for expected in case.get("exp_alerts") or []:
                    annotations = set(expected.get("exp_annotations", {}))
                    assert annotations == {"summary", "description", "runbook_url"}, (path.name, case["alertname"])
                    assert "severity" in expected.get("exp_labels", {}), (path.name, case["alertname"])


# --- alerting.forDurations, judged by promtool ------------------------------------


def _write_rules(tmp_path: Path, settings) -> list[str]:
    paths = []
    for name, text in rule_files(settings).items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    return paths


def test_promtool_accepts_the_rules_with_every_alert_given_a_pending_period(tmp_path):
    # Every alert that takes one, half of them 0s (no `for` at all), half 30s.
    from stack.settings.alerting import PENDING_ALERTS

    pending = {name: ("0s" if i % 2 else "30s") for i, name in enumerate(PENDING_ALERTS)}
    settings = parse_settings({"target": "docker", "alerting": {"forDurations": pending}}, "prod", "test")
    result = promtool("check", "rules", *_write_rules(tmp_path, settings))
    assert result.returncode == 0, result.stdout + result.stderr


def _expected_alert(rule: dict, series_labels: dict[str, str]) -> dict:
    """What promtool must report for `rule` firing on a series: its labels and
    annotations with the {{ $labels.x }} the templates use filled in."""
    labels = {**series_labels, **rule["labels"]}
    annotations = {}
    for key, template in rule["annotations"].items():
        for name, value in labels.items():
            template = template.replace("{{ $labels." + name + " }}", value)
        assert "{{" not in template, template
        annotations[key] = template
    return {"exp_labels": labels, "exp_annotations": annotations}


def test_promtool_fires_alerts_after_their_overridden_pending_period(tmp_path):
    # The generated `for` is 2m and 5m: firing at 30s and at 0s proves Prometheus reads the overrides.
    settings = parse_settings(
        {"target": "docker", "alerting": {"forDurations": {"GatewayServiceDown": "30s", "LokiDown": "0s"}}}, "prod", "test"
    )
    _write_rules(tmp_path, settings)
    rules = {r["alert"]: r for text in rule_files(settings).values() for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r}
    api = {"job": "unified-llm-api", "service": "unified-llm-api", "instance": "unified-llm-api:8000"}
    loki = {"job": "loki", "instance": "loki:3100"}
    series = lambda labels: "up{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"  # noqa: E731
    unit_test = {
        "rule_files": ["gateway-alerts.yml", "stack-alerts.yml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": series(api), "values": "0x8"}, {"series": series(loki), "values": "0x8"}],
                "alert_rule_test": [
                    {"eval_time": "15s", "alertname": "GatewayServiceDown", "exp_alerts": []},
                    # About the service as a whole: its labels but the instance.
                    {"eval_time": "30s", "alertname": "GatewayServiceDown", "exp_alerts": [_expected_alert(rules["GatewayServiceDown"], {k: v for k, v in api.items() if k != "instance"})]},
                    # About Loki's replicas as a whole (its quorum): all labels but the instance.
                    {"eval_time": "0s", "alertname": "LokiDown", "exp_alerts": [_expected_alert(rules["LokiDown"], {"job": "loki"})]},
                ],
            }
        ],
    }
    path = tmp_path / "pending.test.yml"
    path.write_text(yaml.safe_dump(unit_test, sort_keys=False))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout


KONG_REQUESTS = 'kong_http_requests_total{job="kong", service="kong", instance="kong:8100", exported_service="unified-llm-api", route="llm-chat", workspace="default", code="200", source="service"}'


def _decisions(model: str) -> str:
    return f'gateway_router_decisions_total{{job="intelligent-router", service="intelligent-router", instance="intelligent-router:8001", gen_ai_request_model="{model}"}}'


def _router_stall_test(tmp_path: Path, input_series: list[dict], silent_until: int) -> subprocess.CompletedProcess:
    """promtool on GatewayRouterStalled with no pending period, one-minute steps:
    silent at every minute before `silent_until`, firing at it with Kong at 1 req/s."""
    settings = parse_settings({"target": "docker", "alerting": {"forDurations": {"GatewayRouterStalled": "0s"}}}, "prod", "test")
    _write_rules(tmp_path, settings)
    rule = next(r for text in rule_files(settings).values() for g in yaml.safe_load(text)["groups"] for r in g["rules"] if r.get("alert") == "GatewayRouterStalled")
    described = {**rule, "annotations": {k: v.replace("{{ $value | humanize }}", "1") for k, v in rule["annotations"].items()}}
    unit_test = {
        "rule_files": ["gateway-recording.yml", "gateway-alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    *({"eval_time": f"{minute}m", "alertname": "GatewayRouterStalled", "exp_alerts": []} for minute in range(1, silent_until)),
                    {"eval_time": f"{silent_until}m", "alertname": "GatewayRouterStalled", "exp_alerts": [_expected_alert(described, {})]},
                ],
            }
        ],
    }
    path = tmp_path / "router-stall.test.yml"
    path.write_text(yaml.safe_dump(unit_test, sort_keys=False))
    return promtool("test", "rules", str(path))


def test_a_quiet_minute_at_low_traffic_is_no_router_stall_even_without_a_pending_period(tmp_path):
    # Traffic was counted over 5 minutes and decisions over 1: at traffic near the floor,
    # a minute with no request (and so no decision) looked like a stall under a short
    # `for`. Here requests come in bursts, 15 a minute twice then a quiet minute (3m, 6m,
    # 9m; 0.17/s over 5 minutes, above the 0.1 floor), every one routed; from 10m Kong
    # keeps 1 req/s while the router decides nothing: that pages.
    bursts = "0 15 30 30 45 60 60 75 90 90"
    result = _router_stall_test(
        tmp_path,
        [{"series": KONG_REQUESTS, "values": f"{bursts} 150+60x5"}, {"series": _decisions("gpt-4o"), "values": f"{bursts} 90x5"}],
        silent_until=10,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout


def test_decisions_that_start_new_series_are_no_router_stall(tmp_path):
    # Game day field report ("most requests fail at 5 requests a minute"): each decision
    # chose a model not chosen before, so each started a series at 1, which rate() cannot
    # see, and a router deciding every 12 s paged as stalled. Here one new model a minute
    # for three minutes, no series ever raised; at 4m nothing new: that pages.
    result = _router_stall_test(
        tmp_path,
        [
            {"series": KONG_REQUESTS, "values": "0+60x8"},
            *({"series": _decisions(model), "values": "_ " * minute + f"1x{8 - minute}"} for minute, model in enumerate(("a", "b", "c", "d"))),
        ],
        silent_until=4,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout
