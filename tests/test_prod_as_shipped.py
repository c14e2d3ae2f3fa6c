"""Prod as shipped: Pulumi.prod.yaml is the file operators copy, so it pages
for real, and whatever it (or a default) leaves unsafe for production says
so, at `render`, `plan` and `pulumi up`, without stopping any of them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, require_tool

from stack.alert_names import WATCHDOG
from stack.components.alertmanager import render_alertmanager_config
from stack.components.prometheus import prometheus_service
from stack.settings import load_from_stack_file, parse_settings
from stack.settings.unsafe_for_prod import unsafe_for_prod

PROD_FILE = ROOT / "Pulumi.prod.yaml"


def prod_settings():
    return load_from_stack_file(PROD_FILE, allow_missing_secrets=True).settings


def test_the_watchdog_of_prod_reaches_a_dead_mans_switch(tmp_path):
    """A dead man's switch that nothing hears is no switch: amtool routes the
    Watchdog of the shipped prod file to its heartbeat receiver, a webhook."""
    settings = prod_settings()
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager_config(settings))
    heartbeat = settings.alerting.routing.heartbeat
    assert heartbeat and settings.alerting.routing.receiver(heartbeat).webhook is not None
    result = subprocess.run(
        [require_tool("amtool"), "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={heartbeat}",
         f"alertname={WATCHDOG}", "severity=none"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_placeholder_of_the_prod_file_is_named_until_replaced():
    warnings = unsafe_for_prod(prod_settings())
    named = {w.split(" is ", 1)[0].split(":", 1)[1] for w in warnings}
    assert named == {
        "alerting.routing.receivers[2].webhook.url",
        "logs.storage.s3.bucket",
        "logs.storage.workloadIdentity.serviceAccountAnnotations.eks.amazonaws.com/role-arn",
        "kubernetes.ingress.host",
        "publicUrls.prometheus",
        "publicUrls.alertmanager",
    }
    assert all("an example value: set your own" in w for w in warnings)


def test_prod_left_at_the_defaults_names_every_unsafe_one():
    warnings = "\n".join(unsafe_for_prod(parse_settings({"target": "kubernetes"}, "prod", "test")))
    for key, why in [
        ("alerting.routing.heartbeat", "nothing notices when alerting itself stops"),
        ("alerting.routing.critical", "critical alerts page nobody"),
        ("kubernetes.profile", "one replica of every component"),
        ("logs.storage.type", "one Loki pod keeps every log on one volume"),
    ]:
        assert f"gateway-observability:{key} is" in warnings and why in warnings, key


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_other_stacks_are_not_held_to_prod(environment):
    assert unsafe_for_prod(parse_settings({"target": "kubernetes"}, environment, "test")) == []


@pytest.mark.parametrize("command", ["render", "plan"])
def test_the_offline_commands_warn_and_still_succeed(command, tmp_path):
    args = [sys.executable, "-m", "stack", command, "prod"] + (["--out", str(tmp_path)] if command == "render" else [])
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {w}" for w in unsafe_for_prod(prod_settings())]


def test_only_a_prometheus_on_the_docker_hosts_bind_address_takes_lifecycle_calls():
    """POST /-/reload and /-/quit need no credentials: on Kubernetes any pod
    that reaches Prometheus could stop it, and a new config rolls the pods."""
    kubernetes = prometheus_service(prod_settings())
    docker = prometheus_service(parse_settings({"target": "docker"}, "dev", "test"))
    assert "--web.enable-lifecycle" not in kubernetes.args
    assert "--web.enable-lifecycle" in docker.args
