"""Rules judged by promtool: they load, their unit tests pass, and every alert
has unit tests that prove it both fires and stays silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, require_tool

from stack.alerting import REFERENCE_DIR, reference_settings, rule_files
from stack.settings import parse_settings

TESTS_DIR = ROOT / "alerts" / "tests"
UNIT_TESTS = sorted(TESTS_DIR.glob("*.test.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *args], capture_output=True, text=True, timeout=300)


def test_committed_reference_rules_match_the_generator():
    expected = rule_files(reference_settings())
    committed = {p.name: p.read_text() for p in REFERENCE_DIR.glob("*.yml")}
    assert committed == expected, "alerts/prometheus is stale: run `make rules` and commit the diff"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_promtool_accepts_the_rules_of_every_environment(tmp_path, env):
    settings = parse_settings({"target": "docker"}, env, "test")
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
        for text in rule_files(reference_settings()).values()
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
