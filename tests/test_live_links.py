"""Every link a person clicks is one they can open.

The real Prometheus and Alertmanager (Debian's) run with the rendered
external URLs (publicUrls), Prometheus fires the Watchdog into Alertmanager,
and Alertmanager sends its Slack notification, rendered by the real Slack
integration with the stack's template, to a stand-in on 127.0.0.1. Every URL
in what Slack would get starts with the public URL of the UI it opens (or is
the alert's runbook): nothing points at 127.0.0.1, a container name or a
cluster-internal Service.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import require_tool
from live import serve, start_alertmanager, start_prometheus, stop, until, wait_for, write_alertmanager_files, write_prometheus_files

from examples.gateway.run import free_ports
from stack.components.alertmanager import alertmanager_service
from stack.components.prometheus import prometheus_service
from stack.settings import parse_settings

PUBLIC = {
    "grafana": "https://grafana.gateway.test",
    "prometheus": "https://prometheus.gateway.test/prom",
    "alertmanager": "https://alertmanager.gateway.test",
}
RUNBOOKS = "https://runbooks.gateway.test"


class SlackStandIn(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        SlackStandIn.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def external_url_args(spec) -> tuple[str, ...]:
    return tuple(arg for arg in spec.args if arg.startswith("--web.external-url="))


@pytest.fixture(scope="module")
def slack_message(tmp_path_factory):
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("links")
    slack, slack_port = serve(SlackStandIn)
    prometheus_port, alertmanager_port = free_ports(2)
    settings = parse_settings(
        {
            "target": "kubernetes",
            "evaluationInterval": "5s",
            "publicUrls": PUBLIC,
            "alerting": {
                "runbookBaseUrl": RUNBOOKS,
                "routing": {"receivers": [{"name": "chat", "slack": {"channel": "#gateway"}}], "heartbeat": "chat"},
            },
        },
        "prod",
        "test",
    )
    am_config = write_alertmanager_files(settings, work / "alertmanager", {"chat": f"http://127.0.0.1:{slack_port}/slack"})

    def local_only(config: dict) -> None:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        config["scrape_configs"] = []  # the Watchdog needs no scrape

    prom_config = write_prometheus_files(settings, work / "prometheus", local_only)
    logs = {name: open(work / f"{name}.log", "w") for name in ("prometheus", "alertmanager")}
    processes = [
        start_alertmanager(alertmanager_bin, am_config, alertmanager_port, logs["alertmanager"], external_url_args(alertmanager_service(settings))),
        start_prometheus(prometheus_bin, prom_config, prometheus_port, logs["prometheus"], external_url_args(prometheus_service(settings))),
    ]
    try:
        # A route prefix from the external URL's path: /prom/-/ready.
        wait_for(f"http://127.0.0.1:{prometheus_port}/prom/-/ready")
        wait_for(f"http://127.0.0.1:{alertmanager_port}/-/ready")
        yield until(lambda: SlackStandIn.received[:1], timeout=60)[0]
    finally:
        stop(processes)
        slack.shutdown()
        for log in logs.values():
            log.close()


def test_every_link_in_a_notification_opens_a_public_ui(slack_message):
    text = json.dumps(slack_message)
    links = re.findall(r"https?://[^\s\"\\]+", text)
    assert links, slack_message
    public = (*PUBLIC.values(), f"{RUNBOOKS}/")
    assert [link for link in links if not link.startswith(public)] == []
    # Both the silence/overview link (Alertmanager's) and the alert's source (Prometheus') are there.
    assert any(link.startswith(PUBLIC["alertmanager"]) for link in links)
    assert any(link.startswith(f"{PUBLIC['prometheus']}/graph?g0.expr=") for link in links)
    assert f"{RUNBOOKS}/Watchdog" in text
