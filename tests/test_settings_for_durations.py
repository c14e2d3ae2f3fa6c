"""`alerting.forDurations`: per-alert pending periods.

An operator names any generated alert (Prometheus or Loki) and gives it a
`for:` (0s to 1h; 0s fires on the first evaluation that matches). Unknown
names are refused with the list of known ones, which come from one place,
stack/alert_names.py; that list is exactly what the generators produce.
The override changes the `for:` lines of the rule files and nothing else.
"""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from stack import alert_names
from stack.alert_names import ALERT_NAMES, LOKI_ALERT_NAMES, PROMETHEUS_ALERT_NAMES, WATCHDOG
from stack.alerting import loki_rule_files, reference_settings, rule_files, rule_groups
from stack.alerting.loki_rules import loki_rule_groups
from stack.settings import Duration, SettingsError, parse_settings
from stack.settings import alerting as alerting_settings

PENDING = ["GatewayProviderDown: 30s", "GatewayServiceDown: 30s"]


def settings_with(for_durations: dict, env: str = "prod", **alerting):
    return parse_settings({"target": "docker", "alerting": {"forDurations": for_durations, **alerting}}, env, "test")


def problems_of(for_durations) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_with(for_durations)
    return caught.value.problems


def alert_rules(files: dict[str, str]) -> list[dict]:
    return [rule for text in files.values() for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule]


# --- the names: one place, and exactly what the generators produce ---------------

# Every part that changes which rules are generated, switched on: an extra
# gateway service with its own SLO, teams and receivers, a heartbeat,
# per-alert pending periods and a runbook base URL of its own.
EVERYTHING_ON = {
    "target": "docker",
    "gatewayNetwork": "gateway",
    "gatewayServices": [
        {"name": "kong", "address": "kong:8100"},
        {"name": "unified-llm-api", "address": "unified-llm-api:8000"},
        {"name": "intelligent-router", "address": "intelligent-router:8001"},
        {"name": "optimization-service", "address": "optimization-service:8002"},
        {"name": "embeddings", "address": "embeddings:8003", "metricsPath": "/internal/metrics"},
    ],
    "alerting": {
        "runbookBaseUrl": "https://wiki.example.com/runbooks",
        "slos": {"embeddings": {"availability": 0.999, "latency": 0.95, "latencyThresholdSeconds": 1}},
        "forDurations": {"GatewayServiceDown": "30s", "GatewaySecretLeakedToLogs": "1m", "LokiDown": "0s"},
        "routing": {
            "receivers": [
                {"name": "pager", "pagerduty": {}},
                {"name": "chat", "slack": {"channel": "#alerts"}},
                {"name": "heartbeat", "webhook": {"url": "https://heartbeat.example.com/ping"}},
            ],
            "critical": ["pager", "chat"],
            "warning": ["chat"],
            "heartbeat": "heartbeat",
            "teams": [{"team": "ml-platform", "services": ["intelligent-router", "embeddings"], "warning": ["chat"]}],
        },
    },
}
WITHOUT_KONG = {**EVERYTHING_ON, "gatewayServices": EVERYTHING_ON["gatewayServices"][1:]}


def generated_names(settings) -> tuple[set[str], set[str]]:
    """(Prometheus alert names, Loki alert names) the generators produce."""
    prometheus = {r["alert"] for groups in rule_groups(settings).values() for g in groups for r in g["rules"] if "alert" in r}
    loki = {r["alert"] for g in loki_rule_groups(settings) for r in g["rules"] if "alert" in r}
    return prometheus, loki


@pytest.mark.parametrize(
    "config, env, not_generated",
    [
        # The reference settings: Docker has no cluster to alert on.
        ({"target": "docker"}, "prod", set(alert_names.KUBERNETES_ALERT_NAMES)),
        ({"target": "kubernetes"}, "prod", set()),  # the Kubernetes reference
        (EVERYTHING_ON, "dev", set(alert_names.KUBERNETES_ALERT_NAMES)),
        ({**{k: v for k, v in EVERYTHING_ON.items() if k != "gatewayNetwork"}, "target": "kubernetes"}, "prod", set()),
        # Kong's own alerts need Kong: their names stay known (a stack may add Kong later).
        (
            WITHOUT_KONG,
            "staging",
            {alert_names.KONG_HIGH_SERVER_ERROR_RATE, alert_names.KONG_UPSTREAM_TARGET_UNHEALTHY, *alert_names.KUBERNETES_ALERT_NAMES},
        ),
    ],
    ids=["reference", "kubernetes-reference", "everything-on", "everything-on-kubernetes", "without-kong"],
)
def test_the_known_alert_names_are_exactly_the_generated_alerts(config, env, not_generated):
    prometheus, loki = generated_names(parse_settings(config, env, "test"))
    assert prometheus == PROMETHEUS_ALERT_NAMES - not_generated
    assert loki == LOKI_ALERT_NAMES
    assert set(ALERT_NAMES) == PROMETHEUS_ALERT_NAMES | LOKI_ALERT_NAMES


def test_the_reference_settings_are_the_ones_the_names_are_checked_against():
    # The first case above must really be the committed reference rules' settings.
    assert parse_settings({"target": "docker"}, "prod", "test") == reference_settings()


def test_the_rule_generators_write_no_alert_name_literally():
    # One place for each name: a name typed again in a generator could drift from the list.
    for path in sorted((ROOT / "stack" / "alerting").glob("*.py")):
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not literals & set(ALERT_NAMES), f"{path.name} spells {sorted(literals & set(ALERT_NAMES))}; use stack.alert_names"


def test_the_alert_names_module_stays_a_leaf():
    # stack.settings imports it: importing the settings or the rules from it would be a cycle.
    imports = [
        node for node in ast.walk(ast.parse(Path(alert_names.__file__).read_text())) if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    assert [getattr(node, "module", None) for node in imports] == ["__future__"]


# --- settings: accepted -----------------------------------------------------------


def test_any_generated_alert_takes_a_pending_period_from_0s_to_1h():
    settings = settings_with(
        {"GatewayProviderDown": "30s", "GatewayServiceDown": "0s", "GatewaySecretLeakedToLogs": "1h", "LokiDown": "1m30s"}
    )
    assert settings.alerting.for_durations == {
        "GatewayProviderDown": Duration(30),
        "GatewayServiceDown": Duration(0),
        "GatewaySecretLeakedToLogs": Duration(3600),
        "LokiDown": Duration(90),
    }


@pytest.mark.parametrize("env", ["dev", "staging", "prod", "other"])
def test_by_default_every_alert_keeps_its_own_pending_period(env):
    assert parse_settings({"target": "docker"}, env, "test").alerting.for_durations == {}


def test_an_environment_default_can_carry_pending_periods_and_a_stack_adds_to_it(monkeypatch):
    dev = {**alerting_settings.ALERTING_DEFAULTS["dev"], "forDurations": {"GatewayServiceDown": "30s", "LokiDown": "1m"}}
    monkeypatch.setitem(alerting_settings.ALERTING_DEFAULTS, "dev", dev)
    settings = settings_with({"LokiDown": "2m", "GatewayProviderDown": "10s"}, env="dev")
    assert settings.alerting.for_durations == {
        "GatewayServiceDown": Duration(30),  # the environment's default
        "LokiDown": Duration(120),  # the stack's value over the default
        "GatewayProviderDown": Duration(10),  # the stack's own
    }
    assert settings.alerting.thresholds.hourly_budget_usd == 5  # the rest of dev's defaults still apply


# --- settings: refused, in words, all at once ------------------------------------


def test_an_unknown_alert_name_is_refused_with_every_known_name():
    [problem] = problems_of({"GatewayProviderDwn": "30s"})
    key, _, words = problem.partition(": ")
    assert key == "gateway-observability:alerting.forDurations.GatewayProviderDwn"
    assert "expected the name of an alert the stack generates (did you mean GatewayProviderDown?): " in words
    listed = words.rpartition("): ")[2].split(", ")
    assert listed == sorted(set(ALERT_NAMES) - {WATCHDOG})


def test_a_name_like_no_alert_gets_no_suggestion():
    [problem] = problems_of({"Bogus": "1m"})
    assert "did you mean" not in problem
    assert problem.startswith("gateway-observability:alerting.forDurations.Bogus: key not allowed; expected the name of an alert")


@pytest.mark.parametrize("period", ["0s", "5m"])
def test_the_watchdog_takes_no_pending_period(period):
    # A dead man's switch must fire on every evaluation: a `for` only delays the heartbeat.
    assert problems_of({WATCHDOG: period}) == [
        "gateway-observability:alerting.forDurations.Watchdog: key not allowed; the Watchdog takes no pending "
        "period: as a dead man's switch it must fire from the first evaluation on"
    ]


@pytest.mark.parametrize(
    "given, shown, expected",
    [
        ("2h", "'2h'", "expected a duration between 0s and 1h"),
        ("1h1s", "'1h1s'", "expected a duration between 0s and 1h"),
        ("soon", "'soon'", "expected a duration such as '30s', '5m', '24h' or '15d'"),
        ("-30s", "'-30s'", "expected a duration such as '30s', '5m', '24h' or '15d'"),
        ("", "''", "expected a duration such as '30s', '5m', '24h' or '15d'"),
        (30, "30", "expected a duration such as '30s', '5m', '24h' or '15d'"),
        (None, "null", "expected a duration such as '30s', '5m', '24h' or '15d'"),
    ],
)
def test_a_bad_pending_period_is_refused_with_what_is_allowed(given, shown, expected):
    assert problems_of({"GatewayProviderDown": given}) == [
        f"gateway-observability:alerting.forDurations.GatewayProviderDown: given {shown}; {expected}"
    ]


def test_every_pending_period_problem_is_reported_in_one_run():
    found = problems_of({"GatewayServiceDwn": "30s", WATCHDOG: "1m", "LokiDown": "2h", "GatewayProviderDown": "30s"})
    assert [p.split(":")[1].split(";")[0] for p in found] == [
        "alerting.forDurations.GatewayServiceDwn",
        "alerting.forDurations.Watchdog",
        "alerting.forDurations.LokiDown",
    ]


def test_pending_periods_must_be_a_mapping():
    assert problems_of(PENDING) == [
        f"gateway-observability:alerting.forDurations: given {PENDING!r}; expected a mapping (key: value pairs)".replace('"', "'")
    ]


# --- the rendered rules: the `for:` lines change, nothing else --------------------


def changed_lines(before: dict[str, str], after: dict[str, str]) -> list[str]:
    assert before.keys() == after.keys()
    return [
        line
        for name in before
        for line in difflib.unified_diff(before[name].splitlines(), after[name].splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_an_override_changes_only_the_pending_period_of_the_alert_it_names():
    """The `for:` line, and the description wherever it states the wait."""
    plain = settings_with({})
    pending = settings_with({"GatewayProviderDown": "30s", "GatewayServiceDown": "30s"})
    changed = changed_lines(rule_files(plain), rule_files(pending))
    assert [line for line in changed if "for:" in line] == [
        "-        for: 2m",
        "+        for: 30s",
        "-        for: 5m",
        "+        for: 30s",
    ]
    descriptions = [line for line in changed if "description:" in line]
    assert len(descriptions) == 4 and len(changed) == 8, changed
    assert all(" for 30s" in line for line in descriptions if line.startswith("+"))
    assert changed_lines(loki_rule_files(plain), loki_rule_files(pending)) == []
    by_name = {r["alert"]: r for r in alert_rules(rule_files(pending))}
    assert by_name["GatewayServiceDown"]["for"] == by_name["GatewayProviderDown"]["for"] == "30s"
    assert "for 30s." in by_name["GatewayServiceDown"]["annotations"]["description"]


def test_0s_removes_the_for_so_the_alert_fires_on_its_first_matching_evaluation():
    files = rule_files(settings_with({"GatewayServiceDown": "0s"}))
    [service_down] = [r for r in alert_rules(files) if r["alert"] == "GatewayServiceDown"]
    assert "for" not in service_down
    assert service_down["annotations"]["description"].endswith("has answered Prometheus for one evaluation.")
    changed = changed_lines(rule_files(settings_with({})), files)
    assert [line for line in changed if "for:" in line] == ["-        for: 2m"] and len(changed) == 3, changed


def test_an_alert_without_a_for_gets_one_right_after_its_expression():
    # The Loki ruler's secret-leak alert fires at once by default.
    files = loki_rule_files(settings_with({"GatewaySecretLeakedToLogs": "90s"}))
    [leak] = [r for r in alert_rules(files) if r["alert"] == "GatewaySecretLeakedToLogs"]
    assert list(leak) == ["alert", "expr", "for", "labels", "annotations"]
    assert leak["for"] == "1m30s"
    assert changed_lines(loki_rule_files(settings_with({})), files) == ["+        for: 1m30s"]


def test_an_override_sets_every_rule_of_that_name():
    # Each SLO burn-rate alert is one rule per window and service: all of them take the period.
    settings = settings_with({"GatewayLatencyErrorBudgetBurn": "1m"})
    burns = [r for r in alert_rules(rule_files(settings)) if r["alert"] == "GatewayLatencyErrorBudgetBurn"]
    # Four windows for each service with a whole-request latency SLI: the router and the optimization service.
    assert sorted({r["labels"]["service"] for r in burns}) == ["intelligent-router", "optimization-service"]
    assert len(burns) == 4 * 2
    assert {r["for"] for r in burns} == {"1m"}
    untouched = [r for r in alert_rules(rule_files(settings)) if r["alert"] == "GatewayAvailabilityErrorBudgetBurn"]
    assert {r["for"] for r in untouched} == {"2m", "15m", "1h", "3h"}


def test_an_override_of_the_same_period_changes_nothing():
    assert rule_files(settings_with({"GatewayServiceDown": "2m"})) == rule_files(settings_with({}))


# --- documented -------------------------------------------------------------------


def test_the_docs_document_pending_periods_in_the_settings_reference_and_under_tuning():
    reference = (ROOT / "docs" / "reference" / "settings.md").read_text()
    guide = (ROOT / "docs" / "alerts-and-routing.md").read_text()
    tuning = guide[guide.index("## Tuning thresholds per environment"):]
    tuning = tuning[: tuning.index("\n## ", 1)]
    assert "| `alerting.forDurations` |" in reference
    assert "alerting.forDurations" in tuning
