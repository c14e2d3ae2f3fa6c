"""Slack receivers take every channel form Alertmanager passes on to Slack: a
channel '#name', a user '@name', a channel or user id; names in any script and
case Slack allows. Proven by amtool on a rendered config."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import require_tool

from stack.components.alertmanager import NOTIFICATION_TEMPLATE, render_alertmanager_config
from stack.settings import SettingsError, parse_settings

ACCEPTED = [
    "#ai-gateway-alerts",
    "#ops_team.eu",
    "#Alerts-Prod",  # upper case: Slack matches channel names case-insensitively
    "#données-équipe",  # letters outside ASCII
    "#運用アラート",
    "@jane.doe",
    "@Jürgen",
    "C0123ABCD",  # channel id
    "G01ABCDEF2",  # private channel id (older workspaces)
    "U012AB3CD",  # user id
    "W0123ABCDEF",  # Enterprise Grid user id
]
REFUSED = ["ai-gateway", "#", "@", "#two words", "#a,b", "c0123abcd", "#" + "x" * 81, "#{{ .Labels.team }}", "X0123ABCD"]


def settings_with(channels: list[str]):
    receivers = [{"name": f"slack-{i}", "slack": {"channel": c}} for i, c in enumerate(channels)]
    routing = {"receivers": receivers, "warning": [r["name"] for r in receivers]}
    return parse_settings({"target": "docker", "alerting": {"routing": routing}}, "prod", "test")


@pytest.mark.parametrize("channel", ACCEPTED)
def test_slack_channel_forms_are_accepted_and_rendered_as_given(channel):
    config = yaml.safe_load(render_alertmanager_config(settings_with([channel])))
    slack = next(r for r in config["receivers"] if r["name"] == "slack-0")["slack_configs"][0]
    assert slack["channel"] == channel


@pytest.mark.parametrize("channel", REFUSED)
def test_what_slack_cannot_take_is_refused_in_words(channel):
    with pytest.raises(SettingsError) as caught:
        settings_with([channel])
    [problem] = caught.value.problems
    assert problem.startswith("gateway-observability:alerting.routing.receivers[0].slack.channel: given ")
    assert "expected a Slack channel '#name', a user '@name'" in problem and "'C0123ABCD'" in problem


def test_amtool_accepts_every_channel_form(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/gateway.tmpl").write_text(NOTIFICATION_TEMPLATE)
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager_config(settings_with(ACCEPTED)), encoding="utf-8")
    result = subprocess.run([require_tool("amtool"), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(ACCEPTED) + 1} receivers" in result.stdout  # and the null receiver
