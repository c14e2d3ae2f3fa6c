"""An inhibition only mutes an alert about the same or a narrower scope than
its source, judged by the real Alertmanager (Debian's) running the rendered
routing: alerts are posted as Prometheus would send them, and Alertmanager's
own API says which it inhibits.

Field report: one Kong pod of three not answering scrapes fired the
per-instance GatewayServiceDown, whose inhibition (equal: service) then
muted KongHighServerErrorRate and the availability burn for the whole
service: the on-call got one page about one pod. Now one instance down is
GatewayServiceInstanceDown (a warning about that instance), and
GatewayServiceDown means no instance answers (the page, about the service).
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import require_tool
from live import get_json, start_alertmanager, stop, until, wait_for, write_alertmanager_files

from examples.gateway.run import free_ports
from stack import alert_names as names
from stack.settings import parse_settings

KONG_POD = {"service": "kong", "instance": "kong-7d9f:8100"}
KONG_POD_DOWN = {"alertname": names.SERVICE_INSTANCE_DOWN, "severity": "warning", **KONG_POD}
LOKI_VOLUME = {"alertname": names.KUBE_PERSISTENT_VOLUME_FILLING_UP, "namespace": "observability", "persistentvolumeclaim": "data-obs-loki-0"}
# (name, labels of the alert the scenario posts, whether Alertmanager must inhibit it); each
# scenario posts its source first, under the same environment and cluster labels.
SCENARIOS = {
    "one pod down does not hide the service's error rate": (
        KONG_POD_DOWN,
        {"alertname": names.KONG_HIGH_SERVER_ERROR_RATE, "severity": "critical", "service": "kong"},
        False,
    ),
    "one pod down does not hide the service's error budget burn": (
        KONG_POD_DOWN,
        {"alertname": names.ERROR_BUDGET_BURN["availability"], "severity": "critical", "service": "kong"},
        False,
    ),
    "one pod down hides what is about that pod": (
        KONG_POD_DOWN,
        {"alertname": names.SERVICE_HIGH_LATENCY, "severity": "warning", **KONG_POD},
        True,
    ),
    "one pod down does not hide another pod": (
        KONG_POD_DOWN,
        {"alertname": names.SERVICE_HIGH_LATENCY, "severity": "warning", "service": "kong", "instance": "kong-5c2a:8100"},
        False,
    ),
    "the whole service down hides everything about it": (
        {"alertname": names.SERVICE_DOWN, "severity": "critical", "service": "unified-llm-api", "job": "unified-llm-api"},
        {"alertname": names.PROVIDER_DOWN, "severity": "critical", "service": "unified-llm-api", "gen_ai_provider_name": "openai"},
        True,
    ),
    "the whole service absent hides everything about it": (
        {"alertname": names.SERVICE_ABSENT, "severity": "critical", "service": "kong"},
        {"alertname": names.KONG_HIGH_SERVER_ERROR_RATE, "severity": "critical", "service": "kong"},
        True,
    ),
    "one volume's critical does not hide another volume's warning": (
        {**LOKI_VOLUME, "severity": "critical"},
        {**LOKI_VOLUME, "severity": "warning", "persistentvolumeclaim": "data-obs-prometheus-0"},
        False,
    ),
    "a volume's critical hides its own warning": (
        {**LOKI_VOLUME, "severity": "critical"},
        {**LOKI_VOLUME, "severity": "warning"},
        True,
    ),
    "a provider down hides that provider's symptoms only": (
        {"alertname": names.PROVIDER_DOWN, "severity": "critical", "service": "unified-llm-api", "gen_ai_provider_name": "openai"},
        {"alertname": names.PROVIDER_HIGH_ERROR_RATE, "severity": "warning", "service": "unified-llm-api", "gen_ai_provider_name": "anthropic"},
        False,
    ),
}


@pytest.fixture
def alertmanager(tmp_path_factory):
    """A fresh Alertmanager per scenario: an inhibition source of one must not reach another's target."""
    binary = require_tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("inhibition")
    (port,) = free_ports(1)
    settings = parse_settings({"target": "docker"}, "prod", "test")
    config = write_alertmanager_files(settings, work / "alertmanager", {})
    log = open(work / "alertmanager.log", "w")
    process = start_alertmanager(binary, config, port, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([process])
        log.close()


def post(base: str, alerts: list[dict]) -> None:
    body = [{"labels": {"environment": "prod", "cluster": "local", **labels}, "annotations": {"summary": "game day."}} for labels in alerts]
    request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_an_inhibition_mutes_only_what_is_about_the_same_or_a_narrower_thing(alertmanager, scenario):
    source, target, inhibited = SCENARIOS[scenario]
    post(alertmanager, [source, target])

    def state():
        for alert in get_json(f"{alertmanager}/api/v2/alerts?inhibited=true&silenced=true&active=true"):
            if alert["labels"]["alertname"] == target["alertname"] and alert["labels"]["severity"] == target["severity"]:
                if alert["labels"].get("instance") == target.get("instance") and alert["labels"].get("persistentvolumeclaim") == target.get("persistentvolumeclaim"):
                    return alert["status"]
        return None

    # Inhibition is computed as alerts are read; wait until the source is known too.
    status = until(lambda: (s := state()) and (s["inhibitedBy"] or not inhibited) and s, timeout=15)
    assert status is not None, "the target alert never arrived"
    assert bool(status["inhibitedBy"]) is inhibited, status
