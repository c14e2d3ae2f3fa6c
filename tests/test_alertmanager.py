"""Alertmanager: routing tree from settings, proven by amtool's own route
tester; credentials only as files; bad routing settings are clear errors."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import require_tool

from stack.components.alertmanager import NOTIFICATION_TEMPLATE, alertmanager_service, render_alertmanager_config
from stack.render import rendered_files
from stack.settings import LoadedSettings, SettingsError, parse_settings, receiver_secret

ROUTING = {
    "receivers": [
        {"name": "oncall-pager", "pagerduty": {}},
        {"name": "gateway-slack", "slack": {"channel": "#ai-gateway-alerts"}},
        {
            "name": "sre-email",
            "email": {"to": "sre@example.com", "from": "alertmanager@example.com", "smarthost": "smtp.example.com:587", "authUsername": "alertmanager"},
        },
        {"name": "deadmans-switch", "webhook": {"url": "https://heartbeat.example.com/ping", "bearerToken": True}},
        {"name": "ml-pager", "pagerduty": {}},
        {"name": "ml-slack", "slack": {"channel": "#ml-platform"}},
        {"name": "audit-webhook", "webhook": {"url": "https://audit.example.com/alerts"}},
    ],
    "critical": ["oncall-pager", "gateway-slack"],
    "warning": ["gateway-slack"],
    "info": ["sre-email"],
    "heartbeat": "deadmans-switch",
    "teams": [
        {"team": "ml-platform", "services": ["intelligent-router"], "critical": ["ml-pager", "ml-slack"], "warning": ["ml-slack"]},
        {"team": "compliance", "warning": ["audit-webhook"], "info": ["audit-webhook"]},
    ],
    "businessHours": {"location": "Europe/Berlin", "start": "08:00", "end": "18:00"},
}

# (labels of an alert, receivers amtool must resolve, in order)
ROUTE_CASES = [
    ({"alertname": "Watchdog", "severity": "info"}, "deadmans-switch"),
    ({"alertname": "GatewayServiceDown", "severity": "critical", "service": "kong"}, "oncall-pager,gateway-slack"),
    ({"alertname": "GatewayProviderHighErrorRate", "severity": "warning", "service": "unified-llm-api"}, "gateway-slack"),
    ({"alertname": "GatewayAvailabilityErrorBudgetBurn", "severity": "info", "service": "kong"}, "sre-email"),
    # a team label sends to the team's receivers
    ({"alertname": "GatewayServiceDown", "severity": "critical", "team": "ml-platform"}, "ml-pager,ml-slack"),
    ({"alertname": "GatewayRouterFallbackStorm", "severity": "warning", "team": "ml-platform"}, "ml-slack"),
    # ...and so do alerts about a service the team owns
    ({"alertname": "GatewayServiceDown", "severity": "critical", "service": "intelligent-router"}, "ml-pager,ml-slack"),
    # a severity the team leaves empty falls back to the defaults
    ({"alertname": "GatewayLatencyErrorBudgetBurn", "severity": "info", "team": "ml-platform"}, "sre-email"),
    ({"alertname": "GatewayLLMSpendOverBudget", "severity": "warning", "team": "compliance"}, "audit-webhook"),
    ({"alertname": "GatewayTokenUsageSpike", "severity": "info", "team": "compliance"}, "audit-webhook"),
    ({"alertname": "LokiDown", "severity": "critical", "team": "compliance"}, "oncall-pager,gateway-slack"),
    # no severity: still reaches a person
    ({"alertname": "HandWrittenRule"}, "gateway-slack"),
]


@pytest.fixture
def routed_settings():
    return parse_settings({"target": "docker", "alerting": {"routing": ROUTING}}, "prod", "test")


@pytest.fixture
def config_dir(tmp_path, routed_settings):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/gateway.tmpl").write_text(NOTIFICATION_TEMPLATE)
    (tmp_path / "alertmanager.yml").write_text(render_alertmanager_config(routed_settings))
    return tmp_path


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("amtool"), *args], capture_output=True, text=True, timeout=60)


def test_amtool_accepts_the_full_routing_config(config_dir):
    result = amtool("check-config", str(config_dir / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 receivers" in result.stdout  # 7 + the null receiver
    assert "1 templates" in result.stdout


@pytest.mark.parametrize("labels, receivers", ROUTE_CASES, ids=[f"{c[0]}" for c in ROUTE_CASES])
def test_alert_reaches_exactly_its_receivers(config_dir, labels, receivers):
    pairs = [f"{k}={v}" for k, v in labels.items()]
    result = amtool("config", "routes", "test", f"--config.file={config_dir / 'alertmanager.yml'}", f"--verify.receivers={receivers}", *pairs)
    assert result.returncode == 0, f"{labels} -> {result.stdout.strip()} (expected {receivers})"


def test_route_tester_fails_on_a_wrong_expectation(config_dir):
    # The check above can fail: a critical alert does not go to e-mail.
    result = amtool("config", "routes", "test", f"--config.file={config_dir / 'alertmanager.yml'}", "--verify.receivers=sre-email", "severity=critical")
    assert result.returncode != 0


def test_every_receiver_and_team_is_covered_by_a_route_case(routed_settings):
    covered = {name for _, receivers in ROUTE_CASES for name in receivers.split(",")}
    assert covered == {r.name for r in routed_settings.alerting.routing.receivers}
    teams = {labels.get("team") for labels, _ in ROUTE_CASES}
    assert {t.team for t in routed_settings.alerting.routing.teams} <= teams
    severities = {labels.get("severity") for labels, _ in ROUTE_CASES if "team" not in labels}
    assert {"critical", "warning", "info"} <= severities


def test_routing_groups_inhibits_and_holds_tickets_for_business_hours(routed_settings):
    config = yaml.safe_load(render_alertmanager_config(routed_settings))
    route = config["route"]
    assert route["group_by"] == ["alertname", "service", "gen_ai_provider_name"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "12h")
    info_routes = [r for r in route["routes"] if r.get("matchers") == ['severity="info"']]
    assert info_routes and all(r["active_time_intervals"] == ["business-hours"] for r in info_routes)
    hours = config["time_intervals"][0]["time_intervals"][0]
    assert hours == {"weekdays": ["monday:friday"], "times": [{"start_time": "08:00", "end_time": "18:00"}], "location": "Europe/Berlin"}
    # What each inhibition mutes is proven on the real Alertmanager (tests/test_live_inhibition.py);
    # here, its shape: a severity's scope is the alert's whole identity, a down target's its instance.
    inhibits = {tuple(r["source_matchers"]): r for r in config["inhibit_rules"]}
    assert inhibits[('severity="critical"',)]["equal"][:3] == ["alertname", "service", "instance"]
    down = [r for k, r in inhibits.items() if "GatewayServiceDown" in k[0]]
    assert sorted(r["equal"] for r in down) == [["service"], ["service", "instance"]]
    assert all(r["target_matchers"][0].startswith("alertname!~") for r in down)


def test_credentials_are_files_never_values(routed_settings):
    config = yaml.safe_load(render_alertmanager_config(routed_settings))
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["gateway-slack"]["slack_configs"][0]["api_url_file"] == "/etc/alertmanager/secrets/gateway-slack"
    assert "api_url" not in receivers["gateway-slack"]["slack_configs"][0]
    assert receivers["oncall-pager"]["pagerduty_configs"][0]["routing_key_file"] == "/etc/alertmanager/secrets/oncall-pager"
    assert receivers["sre-email"]["email_configs"][0]["auth_password_file"] == "/etc/alertmanager/secrets/sre-email"
    bearer = receivers["deadmans-switch"]["webhook_configs"][0]["http_config"]["authorization"]
    assert bearer == {"type": "Bearer", "credentials_file": "/etc/alertmanager/secrets/deadmans-switch"}
    assert "http_config" not in receivers["audit-webhook"]["webhook_configs"][0]
    spec = alertmanager_service(routed_settings)
    assert {s.secret for s in spec.secret_files} == {
        receiver_secret(n) for n in ("oncall-pager", "gateway-slack", "sre-email", "deadmans-switch", "ml-pager", "ml-slack")
    }


def test_no_secret_value_appears_in_any_rendered_file(routed_settings):
    values = {receiver_secret(s.secret.split(".", 1)[1]): f"very-secret-{i}" for i, s in enumerate(alertmanager_service(routed_settings).secret_files)}
    files = rendered_files(LoadedSettings(routed_settings, {**values, "grafanaAdminPassword": "grafana-secret"}))
    secret_paths = {p for p in files if "/secrets/" in p}
    assert len(secret_paths) == len(values) + 1
    for path, text in files.items():
        if path not in secret_paths:
            assert "very-secret" not in text and "grafana-secret" not in text, path


BAD_ROUTING = [
    ({"critical": ["pagerr"]}, "alerting.routing.critical: names unknown receiver 'pagerr'"),
    ({"heartbeat": "nobody"}, "alerting.routing.heartbeat: names unknown receiver 'nobody'"),
    ({"teams": [{"team": "x", "warning": ["ghost"]}]}, "alerting.routing.teams[0].warning: names unknown receiver 'ghost'"),
    ({"emergency": ["oncall-pager"]}, "alerting.routing.emergency: unknown key"),
    ({"teams": [{"team": "x", "page": ["oncall-pager"]}]}, "alerting.routing.teams[0].page: unknown key"),
    ({"receivers": [{"name": "hook", "webhook": {"url": "not a url"}}]}, "alerting.routing.receivers[0].webhook.url: given 'not a url'; expected an http(s) URL"),
    ({"receivers": [{"name": "mail", "email": {"to": "nobody", "from": "a@b.co", "smarthost": "smtp:25"}}]}, "receivers[0].email.to: given 'nobody'; expected an e-mail address"),
    ({"receivers": [{"name": "mail", "email": {"to": "a@b.co", "from": "a@b.co", "smarthost": "smtp"}}]}, "receivers[0].email.smarthost: given 'smtp'; expected host:port"),
    ({"receivers": [{"name": "both", "slack": {"channel": "#a"}, "pagerduty": {}}]}, "exactly one of slack, pagerduty, email, webhook"),
    ({"receivers": [{"name": "chan", "slack": {"channel": "no-hash"}}]}, "receivers[0].slack.channel: given 'no-hash'"),
    ({"businessHours": {"start": "25:00"}}, "alerting.routing.businessHours.start: given '25:00'"),
]


@pytest.mark.parametrize("routing, message", BAD_ROUTING, ids=[m for _, m in BAD_ROUTING])
def test_bad_routing_is_a_clear_error(routing, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"routing": {"receivers": ROUTING["receivers"][:1], **routing}}}, "prod", "test")
    assert message in str(caught.value)


def test_out_of_range_threshold_is_named():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"thresholds": {"kongServerErrorRatio": 2}}}, "prod", "test")
    assert "alerting.thresholds.kongServerErrorRatio: given 2" in str(caught.value)


DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def test_every_weekday_range_the_settings_take_alertmanager_loads_and_no_other(tmp_path):
    """Field report (game day): businessHours.weekdays 'monday:sunday' passed
    the settings and Alertmanager refused to start ("start day cannot be
    before end day"). Every ordered pair of days, both ways: accepted by the
    settings exactly when amtool accepts the rendered config."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/gateway.tmpl").write_text(NOTIFICATION_TEMPLATE)
    disagreements = []
    for first in DAYS:
        for last in DAYS:
            weekdays = f"{first}:{last}"
            try:
                settings = parse_settings({"target": "docker", "alerting": {"routing": {"businessHours": {"weekdays": weekdays}}}}, "prod", "test")
            except SettingsError as error:
                assert "alerting.routing.businessHours.weekdays: given" in str(error), error
                settings = None
            # What Alertmanager makes of the range, whatever the settings said.
            config = yaml.safe_load(render_alertmanager_config(parse_settings({"target": "docker"}, "prod", "test")))
            config["time_intervals"][0]["time_intervals"][0]["weekdays"] = [weekdays]
            (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
            loads = amtool("check-config", str(tmp_path / "alertmanager.yml")).returncode == 0
            if loads != (settings is not None):
                disagreements.append(f"{weekdays}: settings {'accept' if settings else 'refuse'}, Alertmanager {'loads' if loads else 'refuses'}")
    assert not disagreements, disagreements
    # sunday:saturday is every day; the default is the working week.
    assert parse_settings({"target": "docker"}, "prod", "test").alerting.routing.business_hours.weekdays == "monday:friday"


def test_group_wait_and_the_heartbeat_interval_come_from_settings():
    settings = parse_settings(
        {"target": "docker", "alerting": {"routing": {**ROUTING, "groupWait": "10s", "heartbeatInterval": "1m"}}}, "prod", "test"
    )
    config = yaml.safe_load(render_alertmanager_config(settings))
    assert config["route"]["group_wait"] == "10s"
    (heartbeat,) = [r for r in config["route"]["routes"] if r.get("matchers") == ['alertname="Watchdog"']]
    assert (heartbeat["group_wait"], heartbeat["group_interval"], heartbeat["repeat_interval"]) == ("0s", "1m", "1m")


def test_only_the_heartbeat_never_hears_of_a_resolved_alert(routed_settings):
    """A dead man's switch takes any request for a sign of life; the Watchdog
    resolving means Prometheus stopped, so it must not be told (game day:
    the switch would have stayed quiet)."""
    config = yaml.safe_load(render_alertmanager_config(routed_settings))
    resolved = {
        receiver["name"]: [c["send_resolved"] for key, configs in receiver.items() if key.endswith("_configs") for c in configs]
        for receiver in config["receivers"]
        if receiver["name"] != "null"
    }
    assert resolved.pop("deadmans-switch") == [False]
    assert resolved and all(values == [True] for values in resolved.values()), resolved
