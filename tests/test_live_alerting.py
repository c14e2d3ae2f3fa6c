"""End to end on 127.0.0.1: the real Prometheus and Alertmanager (Debian's)
run the rendered configuration, scrape a stand-in gateway service that
exposes the contract's metrics, and deliver alerts to stand-in receivers.

Only addresses and paths are changed from what `pulumi up` deploys: container
hostnames become 127.0.0.1 ports and /etc paths become a temporary folder.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import require_tool
from live import (
    get_json,
    serve,
    start_alertmanager,
    start_prometheus,
    stop,
    until,
    wait_for,
    write_alertmanager_files,
    write_prometheus_files,
)

from examples.gateway.run import free_ports
from stack.settings import parse_settings

RECEIVERS = ("pager", "chat", "tickets", "heartbeat")
BEARER = "live-test-token"


class StandInGateway(BaseHTTPRequestHandler):
    """unified-llm-api's /metrics: openai fails every call, anthropic serves."""

    started = time.monotonic()

    def do_GET(self):
        calls = int((time.monotonic() - self.started) * 10) + 1
        labels = 'gen_ai_operation_name="chat",gen_ai_request_model="m",gen_ai_provider_name='
        body = "\n".join(
            [
                "# TYPE gen_ai_client_operation_duration_seconds histogram",
                f'gen_ai_client_operation_duration_seconds_bucket{{{labels}"openai",error_type="timeout",le="+Inf"}} {calls}',
                f'gen_ai_client_operation_duration_seconds_sum{{{labels}"openai",error_type="timeout"}} {calls * 30}',
                f'gen_ai_client_operation_duration_seconds_count{{{labels}"openai",error_type="timeout"}} {calls}',
                f'gen_ai_client_operation_duration_seconds_bucket{{{labels}"anthropic",le="+Inf"}} {calls}',
                f'gen_ai_client_operation_duration_seconds_sum{{{labels}"anthropic"}} {calls}',
                f'gen_ai_client_operation_duration_seconds_count{{{labels}"anthropic"}} {calls}',
                "",
            ]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Notifications(BaseHTTPRequestHandler):
    """Every receiver is a webhook here; the path names the receiver."""

    received: list[dict] = []

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload["_path"] = self.path.strip("/")
        payload["_authorization"] = self.headers.get("Authorization")
        Notifications.received.append(payload)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("live")
    gateway, gateway_port = serve(StandInGateway)
    hooks, hooks_port = serve(Notifications)
    prometheus_port, alertmanager_port = free_ports(2)
    settings = parse_settings(
        {
            "target": "docker",
            "scrapeInterval": "5s",
            "scrapeTimeout": "4s",
            "evaluationInterval": "5s",
            "gatewayServices": [{"name": "unified-llm-api", "address": f"127.0.0.1:{gateway_port}"}],
            "alerting": {
                "routing": {
                    "receivers": [
                        {"name": name, "webhook": {"url": f"http://127.0.0.1:{hooks_port}/{name}", "bearerToken": name == "heartbeat"}}
                        for name in RECEIVERS
                    ],
                    "critical": ["pager", "chat"],
                    "warning": ["chat"],
                    "info": ["tickets"],
                    "heartbeat": "heartbeat",
                }
            },
        },
        "live",
        "test",
    )

    # Alertmanager: the rendered file, with its /etc paths moved into the work folder.
    am_config = write_alertmanager_files(settings, work / "alertmanager", {"heartbeat": BEARER})

    # Prometheus: the rendered config and rules; stack components it cannot
    # reach here stay as unreachable targets, Alertmanager is on its port.
    def to_local_alertmanager(config: dict) -> None:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]

    prom_config = write_prometheus_files(settings, work / "prometheus", to_local_alertmanager)

    logs = {name: open(work / f"{name}.log", "w") for name in ("prometheus", "alertmanager")}
    processes = [
        start_alertmanager(alertmanager_bin, am_config, alertmanager_port, logs["alertmanager"]),
        start_prometheus(prometheus_bin, prom_config, prometheus_port, logs["prometheus"]),
    ]
    try:
        wait_for(f"http://127.0.0.1:{alertmanager_port}/-/ready")
        wait_for(f"http://127.0.0.1:{prometheus_port}/-/ready")
        yield {"prometheus": f"http://127.0.0.1:{prometheus_port}", "alertmanager": f"http://127.0.0.1:{alertmanager_port}", "work": work}
    finally:
        stop(processes)
        gateway.shutdown()
        hooks.shutdown()
        for log in logs.values():
            log.close()


def query(stack, promql: str) -> list[dict]:
    url = f"{stack['prometheus']}/api/v1/query?query={urllib.parse.quote(promql)}"
    return get_json(url)["data"]["result"]


def test_prometheus_loads_every_generated_rule(live_stack):
    groups = get_json(f"{live_stack['prometheus']}/api/v1/rules")["data"]["groups"]
    loaded = {g["name"] for g in groups}
    assert {"gateway-http.rules", "gateway-llm.rules", "gateway-slo.alerts", "stack-meta.alerts"} <= loaded
    assert all(rule["health"] != "err" for g in groups for rule in g["rules"])


def test_gateway_service_is_scraped_with_contract_labels(live_stack):
    up = until(lambda: query(live_stack, 'up{job="unified-llm-api"} == 1'), timeout=30)
    assert up and up[0]["metric"]["service"] == "unified-llm-api"
    assert up[0]["metric"]["environment"] == "live" and up[0]["metric"]["cluster"] == "local"


def test_recording_rules_compute_the_provider_error_ratio(live_stack):
    def ratios():
        result = query(live_stack, "provider:gen_ai_client_operation_errors:ratio_rate5m")
        return {r["metric"]["gen_ai_provider_name"]: float(r["value"][1]) for r in result} if len(result) == 2 else None

    assert until(ratios, timeout=45) == {"openai": 1.0, "anthropic": 0.0}


def test_watchdog_reaches_the_heartbeat_receiver_with_its_bearer_token(live_stack):
    def heartbeat():
        return [n for n in Notifications.received if n["_path"] == "heartbeat"]

    received = until(heartbeat, timeout=45)
    assert received, (
        [n["_path"] for n in Notifications.received],
        get_json(f"{live_stack['alertmanager']}/api/v2/alerts"),
    )
    alert = received[0]["alerts"][0]
    assert alert["labels"]["alertname"] == "Watchdog"
    assert alert["labels"]["environment"] == "live"  # external label added on the way out
    assert received[0]["_authorization"] == f"Bearer {BEARER}"
    assert not [n for n in Notifications.received if n["_path"] != "heartbeat" and n["alerts"][0]["labels"]["alertname"] == "Watchdog"]


def test_critical_alert_pages_both_receivers_and_silences_its_warning(live_stack):
    alerts = [
        {"labels": {"alertname": "LiveTestBurn", "service": "kong", "severity": severity}, "annotations": {"summary": "live."}}
        for severity in ("critical", "warning")
    ]
    request = urllib.request.Request(
        f"{live_stack['alertmanager']}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()

    def delivered():
        return {
            (n["_path"], a["labels"]["severity"])
            for n in Notifications.received
            for a in n["alerts"]
            if a["labels"]["alertname"] == "LiveTestBurn"
        }

    # group_wait is 30s: wait for both critical notifications, bounded.
    got = until(lambda: delivered() if {("pager", "critical"), ("chat", "critical")} <= delivered() else None, timeout=60)
    assert got == {("pager", "critical"), ("chat", "critical")}, delivered()
    # The warning of the same alert and service is inhibited, not merely late.
    states = {
        a["labels"]["severity"]: a["status"]
        for a in get_json(f"{live_stack['alertmanager']}/api/v2/alerts")
        if a["labels"]["alertname"] == "LiveTestBurn"
    }
    assert states["warning"]["state"] == "suppressed" and states["warning"]["inhibitedBy"]
    assert states["critical"]["state"] == "active"
